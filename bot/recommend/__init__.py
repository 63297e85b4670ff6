"""Personalised recommendations: catalogue, events, user profiles, models behind one interface
(popularity, item-item CF, ALS, BPR, SVD, content, Wide & Deep, hybrid), business filters, MMR
diversity, reasons in zh and en, and offline evaluation."""

from pathlib import Path

from bot.recommend._base import Recommender, Scored
from bot.recommend._catalogue import load_catalogue
from bot.recommend._content import ContentModel, MemoEmbedder, TextEmbedder
from bot.recommend._errors import (
    CatalogueError,
    EventImportError,
    InvalidEvent,
    NotFitted,
    RecommendError,
    TrainingEngineUnavailable,
    UnknownModel,
)
from bot.recommend._evaluation import BASELINES, MODELS, OPTIONAL_MODELS, build_model, evaluate
from bot.recommend._events import EVENT_FORMATS, load_events
from bot.recommend._factors import ALSModel, BPRModel, SVDModel
from bot.recommend._hybrid import HybridModel
from bot.recommend._interactions import Interactions, build_interactions
from bot.recommend._itemknn import ItemKNNModel
from bot.recommend._popularity import PopularityModel
from bot.recommend._profile import PRICE_BANDS, price_band
from bot.recommend._protocols import cold_start, ranker_lift
from bot.recommend._rerank import mmr
from bot.recommend._service import (
    RecommendConfig,
    RecommendService,
    TrainReport,
    rank_recommendations,
)
from bot.recommend._spark import SparkALSModel
from bot.recommend._types import (
    EVENT_KINDS,
    CatalogueItem,
    Event,
    EventKind,
    Filters,
    ImportReport,
    Reason,
    Recommendation,
    RowProblem,
    UserProfile,
)
from bot.recommend._versions import ModelStore
from bot.recommend._widedeep import Context, Impression, WideDeepRanker

# The demo shop's products (the order fixtures' catalogue) as an importable catalogue file.
CATALOGUE = Path(__file__).resolve().parent / "catalogue.json"

__all__ = [
    "BASELINES",
    "CATALOGUE",
    "EVENT_FORMATS",
    "EVENT_KINDS",
    "MODELS",
    "OPTIONAL_MODELS",
    "PRICE_BANDS",
    "ALSModel",
    "BPRModel",
    "CatalogueError",
    "CatalogueItem",
    "ContentModel",
    "Context",
    "Event",
    "EventImportError",
    "EventKind",
    "Filters",
    "HybridModel",
    "ImportReport",
    "Impression",
    "Interactions",
    "InvalidEvent",
    "ItemKNNModel",
    "MemoEmbedder",
    "ModelStore",
    "NotFitted",
    "PopularityModel",
    "Reason",
    "RecommendConfig",
    "RecommendError",
    "RecommendService",
    "Recommendation",
    "Recommender",
    "RowProblem",
    "SVDModel",
    "Scored",
    "SparkALSModel",
    "TextEmbedder",
    "TrainReport",
    "TrainingEngineUnavailable",
    "UnknownModel",
    "UserProfile",
    "WideDeepRanker",
    "build_interactions",
    "build_model",
    "cold_start",
    "evaluate",
    "load_catalogue",
    "load_events",
    "mmr",
    "price_band",
    "rank_recommendations",
    "ranker_lift",
]
