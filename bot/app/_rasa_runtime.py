"""Rasa's endpoints and credentials files, written from the settings at start-up."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml
from sqlalchemy.engine import make_url

from bot.app._settings import Settings

TRACKER_URL_ENV = "BOT_RASA_TRACKER_URL"
LOCK_STORE_PASSWORD_ENV = "BOT_RASA_LOCK_STORE_PASSWORD"
BROKER_PASSWORD_ENV = "BOT_RASA_BROKER_PASSWORD"
# The fanout exchange Rasa's pika event broker declares and binds its queues to.
RASA_EXCHANGE = "rasa-exchange"
# Rasa's lock keys apart from the hub's own keys in the same Redis.
LOCK_KEY_PREFIX = "rasa"


def write_rasa_runtime_files(settings: Settings) -> tuple[Path, Path]:
    """Write endpoints.yml and credentials.yml for ``rasa run``; return their paths.

    Secrets stay out of the files: the tracker store URL is read by Rasa from the
    ``BOT_RASA_TRACKER_URL`` environment variable (see ``rasa_runtime_environment``).
    """
    run_dir = settings.var_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    tracker_url = make_url(settings.rasa_tracker_url)
    if tracker_url.get_backend_name() == "sqlite" and tracker_url.database:
        Path(tracker_url.database).parent.mkdir(parents=True, exist_ok=True)
    endpoints: dict[str, object] = {
        "action_endpoint": {"url": f"{settings.actions_url}/webhook"},
        "tracker_store": {
            "type": "SQL",
            "dialect": tracker_url.get_backend_name(),
            # Rasa passes `url` on as the database host and uses it whole when it holds "://";
            # it fills `${...}` from the environment.
            "url": "${" + TRACKER_URL_ENV + "}",
        },
    }
    if settings.scale and settings.redis_url:
        # Several Rasa replicas serve one conversation's messages in turn only with a shared lock
        # store; the in-memory default locks per process.
        endpoints["lock_store"] = rasa_lock_store(settings.redis_url)
    if settings.scale and settings.rabbitmq_url:
        endpoints["event_broker"] = rasa_event_broker(settings.rabbitmq_url, settings)
    credentials: dict[str, None] = {"rest": None}
    endpoints_file = run_dir / "endpoints.yml"
    credentials_file = run_dir / "credentials.yml"
    endpoints_file.write_text(yaml.safe_dump(endpoints, sort_keys=False), encoding="utf-8")
    credentials_file.write_text(yaml.safe_dump(credentials), encoding="utf-8")
    return endpoints_file, credentials_file


def rasa_lock_store(redis_url: str) -> dict[str, object]:
    """Rasa's ``RedisLockStore`` endpoint for ``redis_url``; the password, if any, is read from
    the environment (``rasa_runtime_environment``), never written to the file."""
    url = make_url(redis_url.replace("rediss://", "redis://", 1))
    store: dict[str, object] = {
        "type": "redis",
        "url": url.host or "localhost",
        "port": url.port or 6379,
        "db": int(url.database or 0),
        "key_prefix": LOCK_KEY_PREFIX,
        "use_ssl": redis_url.startswith("rediss://"),
    }
    if url.password:
        store["password"] = "${" + LOCK_STORE_PASSWORD_ENV + "}"
    return store


def rasa_event_broker(rabbitmq_url: str, settings: Settings) -> dict[str, object]:
    """Rasa's ``PikaEventBroker`` endpoint: every tracker event to ``BOT_RASA_EVENTS_QUEUE``;
    the password is read from the environment (``rasa_runtime_environment``)."""
    url = urlsplit(rabbitmq_url)
    return {
        "type": "pika",
        "url": url.hostname or "localhost",
        "port": url.port or (5671 if url.scheme == "amqps" else 5672),
        "username": unquote(url.username or "guest"),
        "password": "${" + BROKER_PASSWORD_ENV + "}",
        "queues": [settings.rasa_events_queue],
        "exchange_name": RASA_EXCHANGE,
    }


def rasa_tracker_url(settings: Settings) -> str:
    """The tracker store URL as Rasa's environment connects: its SQLAlchemy 1.4 has psycopg2,
    not the hub's psycopg 3, so a PostgreSQL URL loses its driver name."""
    url = make_url(settings.rasa_tracker_url)
    if url.get_backend_name() == "postgresql":
        url = url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def rasa_runtime_environment(settings: Settings) -> dict[str, str]:
    """Variables the Rasa server reads its endpoints' secrets from, the LLM endpoint for the
    intent classifier's optional assist (``llm_assist`` in config.yml), which reads the same
    ``BOT_LLM_*`` variables, and the key of its embeddings endpoint (``embedding_url``): passed
    from the settings, so a value in ``.env`` counts too."""
    env = {TRACKER_URL_ENV: rasa_tracker_url(settings)}
    if settings.llm_base_url:
        env["BOT_LLM_BASE_URL"] = settings.llm_base_url
        env["BOT_LLM_MODEL"] = settings.llm_model or ""
        if settings.llm_api_key:
            env["BOT_LLM_API_KEY"] = settings.llm_api_key.get_secret_value()
    if settings.nlu_embedding_api_key:
        env["BOT_NLU_EMBEDDING_API_KEY"] = settings.nlu_embedding_api_key.get_secret_value()
    if settings.scale and settings.redis_url:
        password = make_url(settings.redis_url.replace("rediss://", "redis://", 1)).password
        if password:
            env[LOCK_STORE_PASSWORD_ENV] = str(password)
    if settings.scale and settings.rabbitmq_url:
        env[BROKER_PASSWORD_ENV] = unquote(urlsplit(settings.rabbitmq_url).password or "guest")
    return env
