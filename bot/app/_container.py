"""The composition root: every service the platform's processes use, built once from the settings.

Adapters never see this container; the hub factory and the command line hand each adapter only
the services it needs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, replace
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.exc import IntegrityError

from bot.app._churn_features import RetentionEffects
from bot.app._customers import CustomerFacts
from bot.app._identity import CustomerLinks, LinkedCustomerData, linked_person, phone_key
from bot.app._knowledge import SharedKnowledge, knowledge_config
from bot.app._marketing import anonymous_webchat, campaign_picks, campaigns_of
from bot.app._privacy_chat import export_links, privacy_command
from bot.app._scale import RedisConversationLocks
from bot.app._settings import Settings
from bot.conversations import (
    CommandAnswer,
    ConversationService,
    CustomerCommand,
    ForgetTexts,
    HandoffPolicy,
    Summarizer,
    TicketReceipt,
    UnattendedRequest,
    UnattendedTickets,
    identified_sender,
)
from bot.corrections import CorrectionService
from bot.dialogue import RasaClient, TrackerStoreEvents, domain_intents
from bot.handoff import AgentDirectory, BusinessHours, HandoffService, LoginThrottle
from bot.identity import IdentityService, PhoneHasher
from bot.insights import (
    ChurnScores,
    EmotionModel,
    RetentionDesk,
    SentimentAnalyzer,
    forget_cached_vectors,
    gaps_report,
)
from bot.marketing import (
    BudgetPlanner,
    Campaigns,
    ContactPolicy,
    CopyDesk,
    CopyWriter,
    MarketingConfig,
    MarketingService,
    Product,
)
from bot.media import AttachmentStore, MediaIntake
from bot.orders import OrderService
from bot.outbox import Outbox, RetryPolicy
from bot.privacy import (
    AuditLog,
    ChatRequests,
    ConsentService,
    PersonalData,
    Retention,
    RetentionRule,
)
from bot.recommend import CATALOGUE, RecommendConfig, RecommendService
from bot.storage import Database
from bot.tickets import (
    CATEGORY_OF_INTENT,
    SlaPolicy,
    TicketConfig,
    TicketDraft,
    TicketService,
    WebhookConfig,
)
from channels.connector import DAY, MINUTE, Quota, RateLimiter, RateLimits
from channels.media import (
    SHOP_VOCABULARY_PROMPT,
    MediaReader,
    SpeechBackend,
    SpeechEngine,
    build_ocr_engine,
    build_speech_engine,
)
from channels.webchat import CHANNEL as WEBCHAT
from channels.webchat import WebchatSessions
from knowledge import E5Embedder, chat_model

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubServices:
    """Everything the hub works with, built once per application."""

    settings: Settings
    database: Database
    dialogue: RasaClient
    hours: BusinessHours
    handoffs: HandoffService
    agents: AgentDirectory
    knowledge: SharedKnowledge
    customers: CustomerFacts
    summarizer: Summarizer
    conversations: ConversationService
    media: MediaIntake
    tickets: TicketService
    recommendations: RecommendService
    tracker_events: TrackerStoreEvents
    audit: AuditLog
    consents: ConsentService
    personal_data: PersonalData
    retention: Retention
    outbox: Outbox
    marketing: MarketingService
    copy_desk: CopyDesk
    churn_scores: ChurnScores
    # Churn retention rules with their effects (coupon notice, priority routing, follow-up ticket).
    retention_desk: RetentionDesk
    # Marketing campaigns: the job sends them, the REST API and tracked links reach them.
    campaigns: Campaigns
    # A customer's privacy requests typed in the chat, and the download of their export.
    chat_privacy: ChatRequests
    # The ``scale`` profile's Redis (socket.io rooms, job leases, locks); None when embedded.
    redis: aioredis.Redis | None = None
    # Agents' corrections of the bot's intents (the console's NLU panel; training examples).
    corrections: CorrectionService | None = None
    # App identities linked by a verified phone (one customer across apps).
    identities: IdentityService | None = None
    links: CustomerLinks | None = None
    # The budget planner on the campaigns' own results (``/api/marketing/budget/plan``).
    budget: BudgetPlanner | None = None

    async def knowledge_gaps(self, days: int, limit: int) -> dict[str, Any]:
        """The questions the knowledge base could not answer lately (insights module)."""
        return await gaps_report(
            self.conversations.replied_questions, self.knowledge.get, days, limit
        )


def insights_vector_file(settings: Settings) -> Path:
    """The e5 vectors the insights commands cache between runs (texts of their data sets)."""
    return settings.var_dir / "insights" / "e5-cache.npz"


def text_caches(settings: Settings, knowledge: SharedKnowledge) -> ForgetTexts:
    """What forgets a customer's texts on erasure, beyond the conversation module's own: the
    knowledge base's cached answers and query vectors, and the insights commands' vectors."""

    async def forget(texts: list[str]) -> dict[str, int]:
        counts = await asyncio.to_thread(knowledge.forget, texts)
        counts["insights_vectors"] = await asyncio.to_thread(
            forget_cached_vectors, insights_vector_file(settings), texts
        )
        return counts

    return forget


def sentiment_analyzer(settings: Settings) -> SentimentAnalyzer:
    """Lexicon sentiment, plus each message's emotion from the shipped e5 heads when enabled
    (the e5 model loads on the first message), with the tuned Chinese polarity when enabled."""
    emotions = EmotionModel(E5Embedder()) if settings.emotion_model else None
    return SentimentAnalyzer(emotions=emotions, tuned_zh=settings.sentiment_tuned_zh)


def login_throttle(settings: Settings) -> LoginThrottle:
    """Console logins refused for a while after repeated failures (per username and address)."""
    return LoginThrottle(
        settings.rate_limit_storage_uri,
        settings.console_login_max_failures,
        timedelta(seconds=settings.console_login_window_s),
        timedelta(seconds=settings.console_lockout_s),
    )


def rate_limiter(settings: Settings) -> RateLimiter:
    """The channels' rate limits and quotas, as the settings set them."""
    mib = 1024 * 1024
    limits = RateLimits(
        messages_per_sender=Quota(
            settings.rate_limit_messages_per_minute, MINUTE, "messages a minute from one customer"
        ),
        messages_per_address=Quota(
            settings.rate_limit_messages_per_ip_per_minute,
            MINUTE,
            "messages a minute from one address",
        ),
        uploads_per_sender=Quota(
            settings.rate_limit_uploads_per_day, DAY, "uploads a day from one customer"
        ),
        upload_bytes_per_sender=Quota(
            settings.rate_limit_upload_mib_per_day * mib,
            DAY,
            "upload bytes a day from one customer",
        ),
        uploads_per_address=Quota(
            settings.rate_limit_uploads_per_ip_per_day, DAY, "uploads a day from one address"
        ),
        upload_bytes_per_address=Quota(
            settings.rate_limit_upload_mib_per_ip_per_day * mib,
            DAY,
            "upload bytes a day from one address",
        ),
        admin_per_address=Quota(
            settings.rate_limit_admin_per_minute,
            MINUTE,
            "admin API requests a minute from one address",
        ),
    )
    return RateLimiter(
        limits, settings.rate_limit_storage_uri, enabled=settings.rate_limits_enabled
    )


def ticket_config(settings: Settings, hours: BusinessHours) -> TicketConfig:
    """Ticketing as the settings configure it: SLA in the business hours, the optional webhook."""
    webhook = None
    if settings.ticket_webhook_url:
        if settings.ticket_webhook_secret is None:
            raise ValueError(
                "BOT_TICKET_WEBHOOK_URL is set but BOT_TICKET_WEBHOOK_SECRET is not: the shop "
                "checks every post's signature with it"
            )
        webhook = WebhookConfig(
            settings.ticket_webhook_url, settings.ticket_webhook_secret.get_secret_value()
        )
    sla = SlaPolicy(
        due_soon=timedelta(minutes=settings.ticket_due_soon_minutes),
        close_resolved_after=timedelta(days=settings.ticket_close_resolved_after_days),
    )
    return TicketConfig(hours, sla=sla, webhook=webhook)


def business_hours(settings: Settings) -> BusinessHours:
    """When agents work (and SLA clocks run), as the settings say."""
    return BusinessHours.parse(
        settings.business_hours,
        settings.timezone,
        settings.business_weekdays,
        settings.business_holidays,
    )


def ticket_service(settings: Settings, database: Database) -> TicketService:
    """Ticketing on the hub database (the action server opens tickets from dialogue)."""
    return TicketService(database, ticket_config(settings, business_hours(settings)))


def unattended_tickets(tickets: TicketService) -> UnattendedTickets:
    """How the conversations module opens a ticket for a request no agent is online to take."""

    async def open_for(request: UnattendedRequest) -> TicketReceipt:
        subject = {
            "zh": "客服不在线时的人工请求",
            "en": "Asked for a human while no agent was online",
        }[request.language]
        draft = TicketDraft(
            customer_id=request.customer_key,
            subject=subject,
            description=request.transcript,
            category=CATEGORY_OF_INTENT.get(request.intent or "", "other"),
            channel=request.channel,
            conversation_id=request.conversation_id,
            language=request.language,
            team=request.skill,
            tags=("no-agent-online", request.reason.replace("_", "-")),
            angry=request.angry,
            sentiment=request.sentiment,
        )
        view, _ = await tickets.create(draft, actor="bot")
        return TicketReceipt(view.number, view.first_response_due_at)

    return open_for


def recommend_service(settings: Settings, database: Database) -> RecommendService:
    """Recommendations on the hub database, models versioned under ``var_dir``; the content
    model embeds item texts with the bundled e5 model (loaded on first use)."""
    return RecommendService(
        database,
        embedder=E5Embedder(),
        config=RecommendConfig(spark_master=settings.recommend_spark_master),
        model_dir=settings.recommend_model_dir,
    )


async def prepare_recommendations(service: RecommendService) -> None:
    """The demo catalogue when the shop has none yet, and the newest trained model."""
    if not await service.catalogue():
        try:
            await service.import_catalogue(CATALOGUE)
        except IntegrityError:
            # Hub replicas start together; the first one's import is the catalogue.
            logger.info("Another hub replica imported the demo catalogue first")
    await service.refresh()


@dataclass(frozen=True)
class OrdersPart:
    """The shop's orders of a customer (``rest`` customers: the shop's customer id): exported
    with their history; kept by an erasure, counted in its report. They are the shop's
    transaction records, which China's E-commerce Law (art. 31) has it keep for three years;
    in a real deployment they live in the shop's own system and this store is its stand-in."""

    orders: OrderService

    async def export_customer(self, customer_id: str) -> dict[str, object]:
        def read() -> list[dict[str, object]]:
            return [
                {**asdict(order), "total": order.total, "history": self.orders.history(order.id)}
                for order in self.orders.orders_of(customer_id)
            ]

        return {"orders": await asyncio.to_thread(read)}

    async def erase_customer(self, customer_id: str) -> dict[str, int]:
        kept = await asyncio.to_thread(self.orders.orders_of, customer_id)
        return {"kept": len(kept)}


@dataclass(frozen=True)
class OutboxPart:
    """The messaging apps' stored replies to a customer, by the privacy key: an app customer is
    ``<app>:<sender>`` and the outbox keeps their replies by app and sender."""

    outbox: Outbox

    async def export_customer(self, customer_id: str) -> dict[str, object]:
        channel, _, sender = customer_id.partition(":")
        if not sender:
            return {"messages": []}
        messages = [m for m in await self.outbox.messages(channel) if m.recipient == sender]
        return {"messages": [asdict(m) for m in messages]}

    async def erase_customer(self, customer_id: str) -> dict[str, int]:
        channel, _, sender = customer_id.partition(":")
        deleted = await self.outbox.erase_recipient(channel, sender) if sender else 0
        return {"messages": deleted}


@dataclass(frozen=True)
class IdentifiedWebchatPart:
    """An identified web-chat customer's conversation (sender ``customer:<id>``), found by the
    shop's customer id: its messages, Rasa's events, media and the sessions that stood for it.
    A request about the shop's customer (``rest``) covers what they said in the widget too."""

    conversations: ConversationService
    media: AttachmentStore
    dialogue: TrackerStoreEvents
    sessions: WebchatSessions

    async def export_customer(self, customer_id: str) -> dict[str, object]:
        sender = identified_sender(WEBCHAT, customer_id)
        conversation = await self.conversations.export_customer(WEBCHAT, sender)
        events = []
        if conversation is not None:
            events = await self.dialogue.export_conversation(str(conversation["id"]))
        files = await self.media.export_customer(WEBCHAT, sender)
        return {
            "conversation": conversation,
            "dialogue_events": events,
            "media": [file.as_json() for file in files],
        }

    async def erase_customer(self, customer_id: str) -> dict[str, int]:
        sender = identified_sender(WEBCHAT, customer_id)
        conversation_id = await self.conversations.find(WEBCHAT, sender)
        events = 0
        if conversation_id is not None:
            events = await self.dialogue.erase_conversation(conversation_id)
        counts = await self.conversations.erase_customer(WEBCHAT, sender)
        files = await self.media.erase_customer(WEBCHAT, sender)
        sessions = await self.sessions.forget(sender)
        return {
            **counts,
            "tracker_events": events,
            "files": files.get("files", 0),
            "sessions": sessions,
        }


def ensure_recommendation_model(settings: Settings) -> None:
    """The demo catalogue when the shop has none, and a first recommendation model when none was
    ever trained (a new install: about ten seconds of CPU once); later models come from the
    hub's retraining job or ``python -m bot recommend train``."""

    async def prepare() -> None:
        database = Database(settings.hub_database_url)
        try:
            await database.migrate()
            service = recommend_service(settings, database)
            if not await service.catalogue():
                await service.import_catalogue(CATALOGUE)
            report = await service.ensure_trained()
            if report is not None:
                logger.info("Trained a first recommendation model (version %s)", report.version)
        finally:
            database.dispose()

    asyncio.run(prepare())


def order_service(settings: Settings) -> OrderService:
    """The shop's orders on ``var_dir/orders.db``, with "today" in the shop's time zone."""
    return OrderService(settings.var_dir / "orders.db", timezone=settings.timezone)


def build_hub_services(settings: Settings) -> HubServices:
    """The hub's services; nothing starts until the application's lifespan does."""
    database = Database(settings.hub_database_url)
    token = settings.rasa_token.get_secret_value() if settings.rasa_token else None
    dialogue = RasaClient(
        settings.rasa_url,
        settings.actions_url,
        settings.rasa_timeout_s,
        token,
        max_in_flight=settings.rasa_max_in_flight,
    )
    hours = business_hours(settings)
    handoffs = HandoffService(database, hours)
    agents = AgentDirectory(
        database, timedelta(hours=settings.agent_session_hours), throttle=login_throttle(settings)
    )
    knowledge = SharedKnowledge(settings)
    consents = ConsentService(database)
    # Reads only whether priority routing was granted (the desk with effects is built below).
    priorities = RetentionDesk(database, consents)

    async def prioritized(account: str) -> bool:
        return await priorities.treated(account, "priority_routing")

    orders = order_service(settings)
    customers = CustomerFacts(orders, knowledge, prioritized=prioritized)
    llm = knowledge_config(settings).llm
    summarizer = Summarizer(chat_model(llm) if llm else None)
    shared = (
        aioredis.Redis.from_url(settings.redis_url)
        if settings.scale and settings.redis_url
        else None
    )
    locks = (
        # A customer's next message waits for the turn before it (at most the Rasa timeout);
        # a replica that dies mid-turn frees the conversation after the 10 s lease.
        RedisConversationLocks(shared, lease_s=10.0, wait_s=settings.rasa_timeout_s + 5)
        if shared is not None
        else None
    )
    tickets = TicketService(database, ticket_config(settings, hours))
    identities = IdentityService(database)

    async def commands(command: CustomerCommand) -> CommandAnswer | None:
        # Bound below: the chat's privacy requests need PersonalData, which needs this service.
        return await privacy_command(chat_privacy, command)

    conversations = ConversationService(
        database,
        dialogue,
        handoffs,
        hours,
        max_text_chars=settings.max_text_chars,
        default_language=settings.default_language,
        policy=HandoffPolicy(
            sentiment_threshold=settings.sentiment_handoff_threshold,
            notice_interval=timedelta(seconds=settings.queue_notice_interval_s),
            business_hours=settings.business_hours,
        ),
        is_vip=customers.is_vip,
        summaries=summarizer,
        locks=locks,
        sentiment=sentiment_analyzer(settings),
        unattended=unattended_tickets(tickets) if settings.ticket_when_no_agent else None,
        linked_customer=linked_person(identities),
        forget_texts=text_caches(settings, knowledge),
        # With Rasa's events on RabbitMQ the hub's consumer stores the intents (_rasa_events).
        intents_from_tracker=not (settings.scale and settings.rabbitmq_url),
        commands=commands,
    )
    media = media_intake(settings, database, conversations)
    recommendations = recommend_service(settings, database)
    tracker_events = TrackerStoreEvents(settings.rasa_tracker_url)
    audit = AuditLog(database)
    churn_scores = ChurnScores(database)

    async def churn_risk(customer_id: str) -> float | None:
        score = await churn_scores.of(customer_id)
        return score.risk if score is not None else None

    marketing = MarketingService(
        database,
        consents,
        recommendations.profile,
        marketing_config(settings),
        churn=churn_risk,
        events=recommendations.events_of,
        outside_audience=anonymous_webchat(database),
    )
    # Its own engine and storage threads: a webhook's acknowledgement (one insert) must not
    # wait behind the conversation work queued on the main pool.
    outbox = Outbox(
        Database(settings.hub_database_url),
        RetryPolicy(max_attempts=settings.outbox_max_attempts),
    )
    retention_desk = RetentionDesk(
        database,
        consents,
        effects=RetentionEffects(conversations, tickets).as_mapping(),
        cooldown=timedelta(days=settings.retention_cooldown_days),
    )
    corrections = CorrectionService(
        database, domain_intents(), unsure_below=settings.nlu_unsure_below
    )
    personal_data = PersonalData(
        conversations=conversations,
        media=media.store,
        tickets=tickets,
        dialogue=tracker_events,
        consents=consents,
        audit=audit,
        others={
            "recommendations": recommendations,
            "marketing": marketing,
            "app_messages": OutboxPart(outbox),
            "orders": OrdersPart(orders),
            "churn": churn_scores,
            "retention_actions": retention_desk,
            "intent_corrections": corrections,
            "identity_links": LinkedCustomerData(identities, recommendations),
            "webchat_identified": IdentifiedWebchatPart(
                conversations, media.store, tracker_events, WebchatSessions(database)
            ),
        },
    )
    retention = retention_of(settings, conversations, media.store, tickets, tracker_events)
    chat_privacy = ChatRequests(personal_data, export_links(settings))
    return HubServices(
        settings,
        database,
        dialogue,
        hours,
        handoffs,
        agents,
        knowledge,
        customers,
        summarizer,
        conversations,
        media,
        tickets,
        recommendations,
        tracker_events,
        audit,
        consents,
        personal_data,
        retention,
        outbox,
        marketing,
        copy_desk(settings, database, recommendations),
        churn_scores,
        retention_desk,
        campaigns_of(
            settings,
            database,
            marketing,
            conversations,
            campaign_picks(recommendations, consents),
            outbox,
        ),
        chat_privacy,
        shared,
        corrections=corrections,
        identities=identities,
        links=CustomerLinks(identities, PhoneHasher(phone_key(settings)), recommendations),
        budget=BudgetPlanner(database, marketing),
    )


def copy_desk(
    settings: Settings, database: Database, recommendations: RecommendService
) -> CopyDesk:
    """The copy desk on the shop's catalogue, writing with the configured LLM (templates
    without one)."""

    async def catalogue() -> dict[str, Product]:
        items = await recommendations.catalogue()
        return {i.id: Product(i.id, i.name_zh, i.name_en, i.price) for i in items.values()}

    return CopyDesk(database, catalogue, copy_writer(settings))


def copy_writer(settings: Settings) -> CopyWriter | None:
    """Marketing copy from the OpenAI-compatible endpoint of ``BOT_LLM_BASE_URL``, if set."""
    llm = knowledge_config(settings).llm
    if llm is None:
        return None
    model = chat_model(replace(llm, max_tokens=300))

    async def write(prompt: str) -> str:
        reply = await model.ainvoke(prompt)
        return str(reply.content)

    return write


def marketing_config(settings: Settings) -> MarketingConfig:
    """Marketing's caps, quiet hours (customers without a time zone: the shop's) and window."""
    start, end = (time.fromisoformat(part) for part in settings.marketing_quiet_hours.split("-"))
    policy = ContactPolicy(
        max_per_day=settings.marketing_max_per_day,
        max_per_week=settings.marketing_max_per_week,
        quiet_start=start,
        quiet_end=end,
        default_timezone=settings.timezone,
    )
    return MarketingConfig(policy, attribution_hours=settings.marketing_attribution_hours)


def retention_of(
    settings: Settings,
    conversations: ConversationService,
    media: AttachmentStore,
    tickets: TicketService,
    tracker_events: TrackerStoreEvents,
) -> Retention:
    """The retention rules of the settings, each kind swept by the module that owns it."""

    async def messages(before: datetime, dry_run: bool) -> dict[str, int]:
        return await conversations.expire_messages(before, dry_run=dry_run)

    async def originals(before: datetime, dry_run: bool) -> int:
        # A file's expiry was fixed when it came in (BOT_MEDIA_RETENTION_DAYS then).
        return await (media.count_expired() if dry_run else media.purge_expired())

    async def events(before: datetime, dry_run: bool) -> int:
        return await tracker_events.expire(before, dry_run=dry_run)

    async def closed_tickets(before: datetime, dry_run: bool) -> int:
        return await tickets.expire_closed(before, dry_run=dry_run)

    return Retention(
        [
            RetentionRule("messages", settings.retention_messages_days, messages),
            RetentionRule("media", settings.media_retention_days, originals),
            RetentionRule("tracker_events", settings.retention_tracker_days, events),
            RetentionRule("closed_tickets", settings.retention_closed_tickets_days, closed_tickets),
        ]
    )


def speech_engine(settings: Settings, backend: SpeechBackend) -> SpeechEngine:
    """``backend``'s engine as the settings configure it (not loaded yet)."""
    prompt = settings.speech_prompt_zh
    return build_speech_engine(
        backend,
        cache_dir=settings.var_dir / "media-models",
        checkpoint=settings.whisper_checkpoint,
        cpu_threads=settings.speech_threads,
        workers=settings.speech_workers,
        vocabulary_prompt=SHOP_VOCABULARY_PROMPT if prompt is None else prompt,
    )


def media_intake(
    settings: Settings, database: Database, conversations: ConversationService
) -> MediaIntake:
    """The intake the settings describe; engines load on first use."""
    speech = speech_engine(settings, settings.speech_backend)
    reader = MediaReader(
        speech, build_ocr_engine(settings.ocr_backend), max_audio_s=settings.media_max_audio_s
    )
    store = AttachmentStore(
        database, settings.var_dir / "media", timedelta(days=settings.media_retention_days)
    )
    return MediaIntake(
        reader,
        store,
        conversations,
        max_upload_bytes=settings.media_max_upload_bytes,
        max_text_chars=settings.max_text_chars,
    )
