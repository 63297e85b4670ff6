"""HTTP client of the Rasa server's REST channel and of the action server's health endpoint."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import BaseModel, Field, ValidationError

from bot.dialogue._errors import DialogueUnavailable

logger = logging.getLogger(__name__)

# Loading a model (the e5 encoder included) takes tens of seconds on two busy cores.
MODEL_LOAD_TIMEOUT = aiohttp.ClientTimeout(total=600)
HEALTH_TIMEOUT = aiohttp.ClientTimeout(total=2.0)


class Button(BaseModel):
    """A quick-reply button: what it shows and what it sends back."""

    title: str
    payload: str


class BotReply(BaseModel):
    """One message from the bot, as Rasa's REST channel returns it."""

    text: str | None = None
    buttons: list[Button] = Field(default_factory=list)
    image: str | None = None
    custom: dict[str, Any] | None = None


@dataclass(frozen=True)
class TurnIntent:
    """The intent Rasa's NLU gave one customer message, and its confidence (0…1)."""

    name: str
    confidence: float | None
    # The top of Rasa's ``intent_ranking``: (intent, confidence), best first.
    ranking: tuple[tuple[str, float], ...] = ()


RANKING_KEPT = 3


def intent_ranking(value: object) -> tuple[tuple[str, float], ...]:
    """The top RANKING_KEPT of Rasa's ``parse_data.intent_ranking`` (a list of ``{"name",
    "confidence"}``) as pairs; entries that are not an intent with a confidence in 0…1 are
    left out."""
    if not isinstance(value, list):
        return ()
    pairs: list[tuple[str, float]] = []
    for entry in value:
        name = entry.get("name") if isinstance(entry, dict) else None
        score = entry.get("confidence") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name or isinstance(score, bool):
            continue
        if isinstance(score, int | float) and 0.0 <= score <= 1.0:
            pairs.append((name[:64], float(score)))
        if len(pairs) == RANKING_KEPT:
            break
    return tuple(pairs)


# The longest share of the Rasa timeout a message waits for its turn (``max_in_flight``).
TURN_WAIT_SHARE = 0.5

# The metadata key that tags a message sent to Rasa, so its parse can be found again.
TURN_KEY = "hub_message_id"


class RasaClient:
    """Talks to Rasa over its REST webhook; Rasa is only ever reached over HTTP.

    aiohttp rather than httpx: on the hub's hot path httpx spent as much CPU building each
    request as the rest of the hub spent on the whole message.

    At most ``max_in_flight`` messages are at Rasa at once; the others wait their turn for at
    most half of ``timeout_s`` (then fail unsent, costing Rasa nothing), so a message sent has
    at least the other half to be answered. Without the bound an overloaded Rasa interleaves
    every message it holds (as many as the connection pool allows), so none is done before the
    hub gives up on it and Rasa drops it, its work lost: 200 customers on two cores got 80
    answers in 10 minutes, every other message timed out.
    """

    def __init__(
        self,
        rasa_url: str,
        actions_url: str,
        timeout_s: float,
        token: str | None = None,
        max_in_flight: int = 8,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight is {max_in_flight}; give 1 or more")
        self._turns = asyncio.Semaphore(max_in_flight)
        self._turn_wait_s = timeout_s * TURN_WAIT_SHARE
        self._max_in_flight = max_in_flight
        self._webhook = f"{rasa_url}/webhooks/rest/webhook"
        self._token = token
        self._rasa_url = rasa_url
        self._actions_health = f"{actions_url}/health"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the connection pool; call from inside the event loop."""
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("RasaClient.start() was not called")
        return self._session

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotReply]:
        """Send one customer message and return the bot's replies."""
        body = {"sender": sender, "message": text, "metadata": metadata}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        try:
            await asyncio.wait_for(self._turns.acquire(), self._turn_wait_s)
        except TimeoutError as exc:
            raise DialogueUnavailable(
                f"Rasa is busy: this message waited {self._turn_wait_s:g} s for one of "
                f"{self._max_in_flight} turns and was not sent"
            ) from exc
        try:
            payload = await self._post_turn(body, deadline)
        finally:
            self._turns.release()
        try:
            replies = [BotReply.model_validate(item) for item in payload]
        except (TypeError, ValidationError) as exc:
            raise DialogueUnavailable("Rasa returned a reply the hub cannot read") from exc
        if not replies and not await self.actions_healthy():
            # Rasa swallows a failed custom action and answers with nothing; an empty reply
            # while the action server is down is that failure, not a silent bot.
            raise DialogueUnavailable("the action server cannot be reached")
        return replies

    async def _post_turn(self, body: dict[str, Any], deadline: float) -> Any:
        try:
            async with asyncio.timeout_at(deadline):
                async with self._http.post(self._webhook, json=body) as response:
                    if response.status != 200:
                        raise DialogueUnavailable(f"Rasa answered HTTP {response.status}")
                    return await response.json(content_type=None)
        except TimeoutError as exc:
            raise DialogueUnavailable(f"Rasa did not answer within {self._timeout_s:g} s") from exc
        except aiohttp.ClientError as exc:
            raise DialogueUnavailable(f"Rasa cannot be reached at {self._rasa_url}") from exc
        except ValueError as exc:
            raise DialogueUnavailable("Rasa returned a reply the hub cannot read") from exc

    async def pause(self, conversation_id: str) -> None:
        """Pause the conversation in Rasa: it answers nothing until ``resume``."""
        await self._append_event(conversation_id, {"event": "pause"})

    async def resume(self, conversation_id: str) -> None:
        """Let Rasa answer the conversation again, listening for the customer's next message.

        The pause came in the middle of a turn (``action_handoff`` paused it, so Rasa never
        listened); without the ``action_listen`` the policies see a state no story has and fall
        back, and the rule after the fallback hands off again.
        """
        await self._append_event(
            conversation_id, [{"event": "resume"}, {"event": "action", "name": "action_listen"}]
        )

    async def tracker(self, conversation_id: str) -> dict[str, Any]:
        """Rasa's state of the conversation: latest intent and entities, slots, paused."""
        url = f"{self._rasa_url}/conversations/{conversation_id}/tracker"
        params = {"include_events": "NONE", **self._auth()}
        try:
            async with self._http.get(url, params=params, timeout=self._timeout) as response:
                if response.status != 200:
                    raise DialogueUnavailable(f"Rasa's tracker API answered HTTP {response.status}")
                tracker: dict[str, Any] = await response.json(content_type=None)
                return tracker
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise DialogueUnavailable(f"Rasa's tracker API cannot be used: {exc!r}") from exc

    async def turn_intent(self, conversation_id: str, turn: int) -> TurnIntent | None:
        """The intent of the message sent with ``metadata[TURN_KEY] == turn``, read from the
        tracker's latest message; None when Rasa cannot say (unreachable, no intent) or its
        latest message is another one (a later message of the same customer overtook it).

        Rasa's REST channel answers with the bot's messages only; its tracker keeps the parse.
        """
        try:
            tracker = await self.tracker(conversation_id)
        except DialogueUnavailable as exc:
            logger.debug("No intent for message %s: %s", turn, exc)
            return None
        latest = tracker.get("latest_message") if isinstance(tracker, dict) else None
        if not isinstance(latest, dict):
            return None
        metadata = latest.get("metadata")
        if not isinstance(metadata, dict) or metadata.get(TURN_KEY) != turn:
            return None
        intent = latest.get("intent")
        name = intent.get("name") if isinstance(intent, dict) else None
        if not isinstance(name, str) or not name:
            return None
        confidence = intent.get("confidence") if isinstance(intent, dict) else None
        ranking = intent_ranking(latest.get("intent_ranking"))
        if isinstance(confidence, int | float) and 0.0 <= confidence <= 1.0:
            return TurnIntent(name[:64], float(confidence), ranking)
        return TurnIntent(name[:64], None, ranking)

    async def _append_event(
        self, conversation_id: str, event: dict[str, Any] | list[dict[str, Any]]
    ) -> None:
        url = f"{self._rasa_url}/conversations/{conversation_id}/tracker/events"
        names = "+".join(e["event"] for e in (event if isinstance(event, list) else [event]))
        try:
            async with self._http.post(
                url, json=event, params=self._auth(), timeout=self._timeout
            ) as response:
                if response.status != 200:
                    raise DialogueUnavailable(
                        f"Rasa refused the {names} event (HTTP {response.status})"
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DialogueUnavailable(f"Rasa cannot be reached at {self._rasa_url}") from exc

    async def serving_model(self) -> str | None:
        """The file name of the model Rasa serves (``GET /status``), None if it serves none."""
        url = f"{self._rasa_url}/status"
        try:
            async with self._http.get(url, params=self._auth(), timeout=self._timeout) as response:
                if response.status != 200:
                    raise DialogueUnavailable(f"Rasa's status API answered HTTP {response.status}")
                status: dict[str, Any] = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise DialogueUnavailable(f"Rasa's status API cannot be used: {exc!r}") from exc
        model = status.get("model_file")
        return Path(str(model)).name if model else None

    async def load_model(self, model: Path) -> None:
        """Ask Rasa to serve ``model`` (``PUT /model``): Rasa keeps the old model answering
        until the new one is loaded, then swaps them. Loading takes a while: the wait is
        ``MODEL_LOAD_TIMEOUT``, not the conversation timeout."""
        if not model.is_absolute():  # Rasa may run from another folder
            raise ValueError(f"give Rasa the model's absolute path, not {model}")
        url = f"{self._rasa_url}/model"
        body = {"model_file": str(model)}
        try:
            async with self._http.put(
                url, json=body, params=self._auth(), timeout=MODEL_LOAD_TIMEOUT
            ) as response:
                if response.status != 204:
                    detail = (await response.text())[:300]
                    raise DialogueUnavailable(
                        f"Rasa did not load {model.name}: HTTP {response.status} {detail}"
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DialogueUnavailable(f"Rasa's model API cannot be used: {exc!r}") from exc
        logger.info("Rasa now serves %s", model.name)

    def _auth(self) -> dict[str, str]:
        return {"token": self._token} if self._token else {}

    async def rasa_healthy(self) -> bool:
        """Whether the Rasa server answers (it only listens once its model is loaded)."""
        return await self._answers(f"{self._rasa_url}/")

    async def actions_healthy(self) -> bool:
        """Whether the action server answers its health check."""
        return await self._answers(self._actions_health)

    async def _answers(self, url: str) -> bool:
        try:
            async with self._http.get(url, timeout=HEALTH_TIMEOUT) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.debug("Health check of %s failed: %r", url, exc)
            return False
