"""The services the hub's routers work with: built once by the wiring, read by the channels."""

from __future__ import annotations

from dataclasses import dataclass

from bot.conversations import ConversationService
from bot.dialogue import RasaClient
from bot.handoff import AgentDirectory, BusinessHours, HandoffService
from bot.settings import Settings
from bot.storage import Database


@dataclass(frozen=True)
class HubServices:
    """Everything the hub's routers work with, built once per application."""

    settings: Settings
    database: Database
    dialogue: RasaClient
    conversations: ConversationService
    handoffs: HandoffService
    agents: AgentDirectory
    hours: BusinessHours
