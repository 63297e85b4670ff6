"""A Wide & Deep ranker (Cheng et al. 2016) in torch over another model's candidates.

The wide part is a linear model over crossed one-hot features (category × hour, category ×
device, item price band × the user's usual band) and the candidate generator's score; the deep part
embeds user, item, category, price band, hour, device and channel and feeds an MLP. It learns from
impressions: what was shown and whether it was clicked.
"""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bot.recommend._base import Recommender, Scored, top_k
from bot.recommend._interactions import Interactions
from bot.recommend._types import Reason
from bot.recommend._widedeep_sizes import BANDS, CATEGORIES, CHANNELS, DENSE, DEVICES, HOURS

if TYPE_CHECKING:
    import torch

    from bot.recommend._widedeep_net import WideDeepNet

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    """When and where a recommendation is asked for."""

    hour: int = 12
    device: str = "unknown"
    channel: str = "unknown"


@dataclass(frozen=True)
class Impression:
    """An item shown to a user among the generator's candidates, and whether it was clicked."""

    user: str
    item: str
    clicked: bool
    context: Context = Context()


def _bucket(text: str, size: int) -> int:
    # crc32, not hash(): the bucket must not change between processes.
    return zlib.crc32(text.encode()) % size


class WideDeepRanker(Recommender):
    """Re-ranks the top ``candidates`` items of ``generator`` with a Wide & Deep network."""

    name = "widedeep"

    def __init__(
        self,
        generator: Recommender,
        candidates: int = 50,
        dim: int = 16,
        hidden: int = 64,
        epochs: int = 8,
        learning_rate: float = 0.01,
        seed: int = 42,
        generator_factory: Callable[[], Recommender] | None = None,
    ) -> None:
        super().__init__()
        self.generator = generator
        self.candidates = candidates
        self.dim = dim
        self.hidden = hidden
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.seed = seed
        self.generator_factory = generator_factory
        self._net: WideDeepNet | None = None
        self.epochs_used = epochs
        self._bands = np.zeros(0)
        self._user_band: dict[str, int] = {}
        self._affinity: dict[str, dict[int, float]] = {}

    # -- training ---------------------------------------------------------------------------
    def _fit(self, interactions: Interactions) -> None:
        """Learn from a log simulated out of ``interactions`` (see :meth:`simulate_log`)."""
        log = self.simulate_log(interactions)
        self.generator.fit(interactions)
        self.fit_log(interactions, log, fit_generator=False)

    def simulate_log(self, interactions: Interactions, hold: float = 0.2) -> list[Impression]:
        """Impressions where a generator fitted without 20% of each user's items shows its top
        candidates and the held-back items are the clicks (needs ``generator_factory``)."""
        if self.generator_factory is None:
            raise ValueError("fit() needs generator_factory to simulate a log; or call fit_log()")
        rng = np.random.default_rng(self.seed)
        matrix = interactions.weights.tocsr().copy()
        held: dict[str, set[str]] = {}
        for row in range(matrix.shape[0]):
            start, end = matrix.indptr[row], matrix.indptr[row + 1]
            count = round((end - start) * hold)
            if end - start < 3 or count == 0:
                continue
            picked = rng.choice(np.arange(start, end), size=count, replace=False)
            held[interactions.users[row]] = {interactions.items[matrix.indices[p]] for p in picked}
            matrix.data[picked] = 0
        matrix.eliminate_zeros()
        reduced = Interactions(
            list(interactions.users),
            list(interactions.items),
            matrix,
            interactions.ratings,
            interactions.catalogue,
        )
        generator = self.generator_factory()
        generator.fit(reduced)
        log: list[Impression] = []
        for user, clicks in held.items():
            shown = generator.recommend(user, self.candidates, exclude=_seen(reduced, user))
            log += [Impression(user, s.item, s.item in clicks) for s in shown]
        return log

    def fit_log(
        self, interactions: Interactions, log: Sequence[Impression], fit_generator: bool = True
    ) -> None:
        """Train the network on an impression log; the generator is (re)fitted unless told not."""
        self._data = interactions
        if fit_generator:
            self.generator.fit(interactions)
        self._prepare_features(interactions)
        # torch is imported here, not with the module: importing it takes seconds and only
        # training and ranking with this model need it.
        import torch

        from bot.recommend._widedeep_net import WideDeepNet, torch_threads

        torch.manual_seed(self.seed)
        net = WideDeepNet(
            len(interactions.users) + 1, len(interactions.items) + 1, self.dim, self.hidden
        )
        ids, dense, crosses = self._features(log)
        labels = torch.tensor([1.0 if i.clicked else 0.0 for i in log])
        # One user in ten is held out of training: their log loss decides when to stop.
        held = torch.tensor([_bucket(i.user, 10) == 0 for i in log])
        train_rows = torch.nonzero(~held).squeeze(1)
        check_rows = torch.nonzero(held).squeeze(1)
        optimizer = torch.optim.Adam(net.parameters(), lr=self.learning_rate, weight_decay=1e-4)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        generator = torch.Generator().manual_seed(self.seed)
        best: tuple[float, dict[str, torch.Tensor]] = (float("inf"), net.state_dict())
        with torch_threads(1):
            for epoch in range(self.epochs):
                net.train()
                order = train_rows[torch.randperm(len(train_rows), generator=generator)]
                for start in range(0, len(order), 512):
                    batch = order[start : start + 512]
                    optimizer.zero_grad()
                    loss = loss_fn(net(ids[batch], dense[batch], crosses[batch]), labels[batch])
                    loss.backward()
                    optimizer.step()
                if len(check_rows) == 0:
                    continue
                net.eval()
                with torch.no_grad():
                    rows = check_rows
                    check = float(loss_fn(net(ids[rows], dense[rows], crosses[rows]), labels[rows]))
                if check < best[0]:
                    best = (check, {k: v.clone() for k, v in net.state_dict().items()})
                    self.epochs_used = epoch + 1
        if len(check_rows):
            net.load_state_dict(best[1])
        net.eval()
        self._net = net

    def rebind(self, interactions: Interactions) -> None:
        """Serve from newer ``interactions`` (same user and item lists) with the trained network,
        refitting the generator on them."""
        self.generator.fit(interactions)
        self._data = interactions
        self._prepare_features(interactions)

    # -- features ---------------------------------------------------------------------------
    def _prepare_features(self, data: Interactions) -> None:
        prices = np.array(
            [(c.price if (c := data.catalogue.get(t)) else np.nan) for t in data.items]
        )
        known = prices[np.isfinite(prices)]
        edges = np.quantile(known, np.linspace(0, 1, BANDS + 1)[1:-1]) if known.size else []
        self._bands = np.where(np.isfinite(prices), np.searchsorted(edges, prices), 0)
        self._categories = np.array(
            [
                _bucket(c.category, CATEGORIES) if (c := data.catalogue.get(t)) else 0
                for t in data.items
            ]
        )
        popularity = data.item_popularity()
        self._popularity = np.log1p(popularity) / max(1.0, float(np.log1p(popularity.max())))

    def _user_features(self, user: str) -> tuple[int, int, np.ndarray]:
        indices, weights = self.data.history(user)
        band = (
            int(np.bincount(self._bands[indices], weights, BANDS).argmax()) if indices.size else 0
        )
        affinity = np.bincount(self._categories[indices], weights, CATEGORIES)
        affinity = affinity / affinity.sum() if affinity.sum() > 0 else affinity
        return self.data.user_index.get(user, -1) + 1, band, affinity

    def _features(
        self,
        log: Sequence[Impression],
        generator_scores: dict[str, np.ndarray] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        import torch

        users: dict[str, tuple[int, int, np.ndarray]] = {}
        position, standard = self._list_features(log, generator_scores or {})
        ids, dense, crosses = [], [], []
        for row, impression in enumerate(log):
            if impression.user not in users:
                users[impression.user] = self._user_features(impression.user)
            user_id, user_band, affinity = users[impression.user]
            item = self.data.item_index[impression.item]
            category, band = int(self._categories[item]), int(self._bands[item])
            hour = min(HOURS - 1, max(0, impression.context.hour) // 4)
            device = _bucket(impression.context.device, DEVICES)
            ids.append(
                (
                    user_id,
                    item + 1,
                    category,
                    band,
                    hour,
                    device,
                    _bucket(impression.context.channel, CHANNELS),
                )
            )
            dense.append((position[row], standard[row], self._popularity[item], affinity[category]))
            crosses.append(
                (
                    category * HOURS + hour,
                    CATEGORIES * HOURS + category * DEVICES + device,
                    CATEGORIES * (HOURS + DEVICES) + band * BANDS + user_band,
                )
            )
        return (
            torch.tensor(ids, dtype=torch.long).reshape(-1, 7),
            torch.tensor(np.asarray(dense, dtype=np.float32)).reshape(-1, DENSE),
            torch.tensor(crosses, dtype=torch.long).reshape(-1, 3),
        )

    def _list_features(
        self, log: Sequence[Impression], given: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per impression: 1/log2(2 + its rank among the user's shown items) by generator
        score, and that score standardized among them (comparable across users and fits)."""
        rows_of: dict[str, list[int]] = defaultdict(list)
        for row, impression in enumerate(log):
            rows_of[impression.user].append(row)
        position = np.zeros(len(log))
        standard = np.zeros(len(log))
        for user, rows in rows_of.items():
            raw = given.get(user)
            if raw is None:
                raw = self.generator.user_scores(user)
            if raw is None:
                continue
            picked = [self.data.item_index[log[r].item] for r in rows]
            values = np.nan_to_num(np.asarray(raw, dtype=np.float64)[picked], neginf=-1e9)
            ranks = np.empty(len(rows))
            ranks[np.argsort(-values, kind="stable")] = np.arange(len(rows))
            position[rows] = 1.0 / np.log2(ranks + 2.0)
            spread = float(values.std()) or 1.0
            standard[rows] = (values - float(values.mean())) / spread
        return position, standard

    # -- serving ----------------------------------------------------------------------------
    def rank(
        self, user: str, k: int, exclude: Collection[str] = (), context: Context = Context()
    ) -> list[Scored]:
        """The generator's top candidates for ``user``, re-ordered by the network."""
        if self._net is None:
            return self.generator.recommend(user, k, exclude)
        raw = self.generator.user_scores(user)
        if raw is None:
            return []
        shown = top_k(self.data, raw, self.candidates, exclude)
        if not shown:
            return []
        log = [Impression(user, s.item, False, context) for s in shown]
        import torch

        from bot.recommend._widedeep_net import torch_threads

        with torch.no_grad(), torch_threads(1):
            logits = self._net(*self._features(log, {user: raw})).numpy()
        order = np.argsort(-logits, kind="stable")[:k]
        return [Scored(shown[i].item, float(logits[i])) for i in order]

    def recommend(self, user: str, k: int, exclude: Collection[str] = ()) -> list[Scored]:
        return self.rank(user, k, exclude)

    def user_scores(self, user: str) -> np.ndarray | None:
        ranked = self.rank(user, self.candidates)
        if not ranked:
            return None
        scores = np.full(len(self.data.items), -np.inf)
        for s in ranked:
            scores[self.data.item_index[s.item]] = s.score
        return scores

    def item_scores(self, item: str) -> np.ndarray | None:
        return self.generator.item_scores(item)

    def explain(self, user: str, item: str) -> Reason:
        return self.generator.explain(user, item)


def _seen(data: Interactions, user: str) -> list[str]:
    indices, _weights = data.history(user)
    return [data.items[i] for i in indices]


def __getattr__(name: str) -> object:
    # Model versions pickled before the network moved to _widedeep_net name it
    # bot.recommend._widedeep._Net; unpickling them still finds it (PEP 562).
    if name == "_Net":
        from bot.recommend._widedeep_net import WideDeepNet

        return WideDeepNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
