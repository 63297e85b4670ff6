"""``rasa run`` with its HTTP API token taken from the environment, and a model swap that does
not stall conversations.

Rasa reads the token only from ``--auth-token``, where every user of the machine can see it in
the process list; the supervisor runs this script in Rasa's environment instead, with the token
in ``BOT_RASA_TOKEN``, and it is put into Rasa's arguments inside the process.

Rasa 3.6 loads the model of ``PUT /model`` on its event loop: unpacking the archive and loading
every component of the graph, seconds during which no parse, webhook or tracker call is
answered. Here the loading runs in a thread (Rasa's own ``Agent.load_model``); the route keeps
its swap (``app.ctx.agent = new_agent``, one assignment on the loop), so the old model answers
until the new one is whole, and a model that fails to load leaves the old one serving.

Runs on Rasa's Python 3.10 and imports nothing of the platform; Rasa is imported only inside
the functions (the supervisor, on 3.11, imports ``TOKEN_ENV`` from here).
"""

import asyncio
import hashlib
import logging
import os
import sys
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

TOKEN_ENV = "BOT_RASA_TOKEN"

# Run as a script, this module's ``__name__`` is "__main__": the logger is named for the file.
logger = logging.getLogger("bot.app.rasa_main")


def main() -> None:
    token = os.environ.pop(TOKEN_ENV, "")
    if not token:
        sys.exit(f"{TOKEN_ENV} is not set: the supervisor passes Rasa's API token in it")
    sys.argv = ["rasa", *sys.argv[1:], "--auth-token", token]
    load_models_off_the_loop()
    validate_each_yaml_once()
    from rasa.__main__ import main as rasa_main

    rasa_main()


# Texts whose schema check passed, remembered at most (a model's domain is one).
VALID_TEXTS_KEPT = 64


def remember_valid(validate: Callable[..., None]) -> Callable[..., None]:
    """``validate`` (Rasa's YAML schema check: returns, or raises what is wrong), skipped for a
    text it already passed against the same schema. Only passes are remembered: a text that
    failed is checked (and fails) again."""
    passed: dict[tuple[bytes, tuple[Any, ...]], None] = {}

    def validate_once(text: str, *schema: Any) -> None:
        key = (hashlib.sha256(text.encode("utf-8")).digest(), schema)
        if key in passed:
            return
        validate(text, *schema)
        if len(passed) >= VALID_TEXTS_KEPT:
            passed.pop(next(iter(passed)))  # the oldest
        passed[key] = None

    return validate_once


def validate_each_yaml_once() -> None:
    """Loading a model validates its domain's YAML against Rasa's schema (pykwalify) every time:
    about two thirds of a load (1.2-1.7 s → 0.4-0.5 s for the project's model when skipped,
    measured in one process at load ~9). A retrained model mostly carries the same domain, so a
    text that passed is not checked again; the check's verdict on the same text and schema
    cannot differ."""
    import rasa.shared.utils.validation as validation

    validation.validate_yaml_schema = remember_valid(validation.validate_yaml_schema)


def load_models_off_the_loop() -> None:
    """Make Rasa's ``PUT /model`` (and ``/model/test/intents?model=``) load a model from disk in
    a thread, one load at a time; a model server or remote storage keeps Rasa's own way."""
    import rasa.server

    stock = rasa.server._load_agent
    one_at_a_time = asyncio.Lock()  # binds to Rasa's loop on first use (Python 3.10)

    async def load_agent(
        model_path: Any = None,
        model_server: Any = None,
        remote_storage: Any = None,
        endpoints: Any = None,
    ) -> Any:
        pulled = endpoints is not None and endpoints.model is not None
        if model_server is not None or remote_storage is not None or pulled:
            return await stock(
                model_path=model_path,
                model_server=model_server,
                remote_storage=remote_storage,
                endpoints=endpoints,
            )
        async with one_at_a_time:
            return await agent_from_disk(model_path, endpoints)

    rasa.server._load_agent = load_agent


async def agent_from_disk(model_path: Any, endpoints: Any) -> Any:
    """A ready agent for the model at ``model_path``, loaded in a thread; ``ErrorResponse``
    (Rasa's API error) saying why when it cannot be loaded."""
    from rasa.core.brokers.broker import EventBroker
    from rasa.server import ErrorResponse

    if not model_path or not await asyncio.to_thread(os.path.exists, model_path):
        raise ErrorResponse(
            HTTPStatus.BAD_REQUEST,
            "BadRequest",
            f"No model at '{model_path}' on the Rasa server: give the path of a model archive "
            "(.tar.gz), or of a folder of them, that this server can read. The model served "
            "before keeps answering.",
            {"parameter": "model_file", "in": "body"},
        )
    serving = serving_agent()
    broker = serving_broker(serving)
    made_broker = broker is None and endpoints is not None
    if made_broker:
        # Rasa makes a broker on its loop (its AMQP connection lives there); the rest in a thread.
        broker = await EventBroker.create(endpoints.event_broker)
    lock_store = serving.lock_store if serving is not None else None
    started = time.monotonic()
    try:
        agent = await asyncio.to_thread(agent_with_model, model_path, endpoints, broker, lock_store)
    except Exception as exc:
        if made_broker and broker is not None:
            await broker.close()
        logger.warning("Model %s not loaded, the old one keeps serving: %r", model_path, exc)
        raise loading_error(model_path, exc) from exc
    logger.info(
        "Model %s loaded in %.1f s off the event loop", model_path, time.monotonic() - started
    )
    return agent


def serving_agent() -> Any:
    """The agent Rasa's HTTP server answers with now; None before the server has one."""
    from sanic import Sanic
    from sanic.exceptions import SanicException

    try:
        app = Sanic.get_app("rasa_server")  # the name rasa.server.create_app gives its app
    except SanicException:
        return None
    return getattr(app.ctx, "agent", None)


def serving_broker(serving: Any) -> Any:
    """The event broker the serving agent's tracker store publishes to, if any."""
    tracker_store = getattr(serving, "tracker_store", None)
    return getattr(tracker_store, "event_broker", None)


def agent_with_model(model_path: str, endpoints: Any, broker: Any, lock_store: Any = None) -> Any:
    """What ``rasa.core.agent.load_agent`` builds for a model on disk, errors raised rather than
    logged. Runs in a thread: nothing else sees the agent until the route swaps it in on the
    loop.

    The broker and the lock store are the serving agent's when there is one (Rasa's route
    gives the new agent the old lock store anyway): a broker made per swap kept its AMQP
    connection open for good, one more at every swap, and a lock store per swap its Redis
    pool. The tracker store is new: loading the model sets its domain, which the old model
    still reads trackers with until the swap."""
    from rasa.core.agent import Agent
    from rasa.core.http_interpreter import RasaNLUHttpInterpreter
    from rasa.core.lock_store import LockStore
    from rasa.core.tracker_store import TrackerStore

    if endpoints is None:
        agent = Agent()
    else:
        agent = Agent(
            generator=endpoints.nlg,
            tracker_store=TrackerStore.create(endpoints.tracker_store, event_broker=broker),
            lock_store=lock_store or LockStore.create(endpoints.lock_store),
            action_endpoint=endpoints.action,
            http_interpreter=RasaNLUHttpInterpreter(endpoints.nlu) if endpoints.nlu else None,
        )
    agent.load_model(model_path)
    return agent


def loading_error(model_path: str, exc: Exception) -> Exception:
    """Rasa's API error for a model that did not load: 400 when the file is no Rasa model."""
    import tarfile

    from rasa.exceptions import ModelNotFound
    from rasa.server import ErrorResponse

    kept = "The model served before keeps answering."
    error: Exception
    if isinstance(exc, (ModelNotFound, tarfile.TarError, EOFError)):
        error = ErrorResponse(
            HTTPStatus.BAD_REQUEST,
            "BadRequest",
            f"'{model_path}' is not a readable Rasa model archive ({exc!r}). {kept}",
            {"parameter": "model_file", "in": "body"},
        )
    else:
        error = ErrorResponse(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            "LoadingError",
            f"Loading the model '{model_path}' failed: {exc!r}. {kept}",
        )
    return error


if __name__ == "__main__":
    main()
