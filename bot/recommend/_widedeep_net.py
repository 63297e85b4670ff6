"""The torch network of the Wide & Deep ranker (bot/recommend/_widedeep.py), in a module of its
own so that torch is imported only when the ranker trains or ranks, not with the platform."""

from __future__ import annotations

import torch
from torch import nn

from bot.recommend._widedeep_sizes import BANDS, CATEGORIES, CHANNELS, DENSE, DEVICES, HOURS


class WideDeepNet(nn.Module):
    """The wide (crossed features) and deep (embeddings and an MLP) parts, summed."""

    def __init__(self, users: int, items: int, dim: int, hidden: int) -> None:
        super().__init__()
        self.user = nn.Embedding(users, dim)
        self.item = nn.Embedding(items, dim)
        self.category = nn.Embedding(CATEGORIES, 8)
        self.band = nn.Embedding(BANDS, 4)
        self.hour = nn.Embedding(HOURS, 4)
        self.device = nn.Embedding(DEVICES, 4)
        self.channel = nn.Embedding(CHANNELS, 4)
        width = 2 * dim + 8 + 4 * 4 + DENSE
        self.deep = nn.Sequential(
            nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden // 2), nn.ReLU()
        )
        self.deep_out = nn.Linear(hidden // 2, 1)
        self.wide = nn.EmbeddingBag(CATEGORIES * HOURS + CATEGORIES * DEVICES + BANDS**2, 1)
        self.wide_dense = nn.Linear(DENSE, 1)

    def forward(
        self, ids: torch.Tensor, dense: torch.Tensor, crosses: torch.Tensor
    ) -> torch.Tensor:
        deep_in = torch.cat(
            [
                self.user(ids[:, 0]),
                self.item(ids[:, 1]),
                self.category(ids[:, 2]),
                self.band(ids[:, 3]),
                self.hour(ids[:, 4]),
                self.device(ids[:, 5]),
                self.channel(ids[:, 6]),
                dense,
            ],
            dim=1,
        )
        deep: torch.Tensor = self.deep_out(self.deep(deep_in)).squeeze(1)
        wide: torch.Tensor = self.wide(crosses).squeeze(1) + self.wide_dense(dense).squeeze(1)
        return deep + wide


class torch_threads:
    """Run torch on a fixed number of threads (the machine is shared), restoring it after."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.before = 0

    def __enter__(self) -> None:
        self.before = torch.get_num_threads()
        torch.set_num_threads(self.threads)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.before)
