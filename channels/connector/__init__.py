"""What every channel adapter shares: the messaging apps' contract (``AppConnector``), the one
map of errors to HTTP statuses, the request-size limit, and how uploads of voice messages and
images are read and answered."""

from channels.connector._acks import AckFirst, AckFirstMiddleware
from channels.connector._apphttp import download, json_object, numbered_text
from channels.connector._apps import (
    UNHANDLED_AFTER,
    AppClient,
    AppConnector,
    AppMessage,
    KeyedLocks,
    Kind,
)
from channels.connector._auth import API_KEY, bearer_guard
from channels.connector._cards import (
    Card,
    Choice,
    cards_of,
    choices_of,
    feedback_of,
    feedback_payload,
)
from channels.connector._errors import (
    NOT_HTTP,
    STATUS,
    WRAPPERS,
    install_error_handlers,
    status_of,
)
from channels.connector._limits import BodySizeLimit
from channels.connector._links import (
    APP_NAMES,
    LINK_REPLIES,
    PHONE_OFFER,
    SHARE_PHONE,
    PhoneLinks,
    PhoneOffer,
    last_four,
    link_reply,
    offers_phone,
)
from channels.connector._origins import (
    SocketOrigins,
    request_origin,
    same_origin,
    socket_client_address,
)
from channels.connector._payloads import id_at, member, object_at, text_at
from channels.connector._ratelimit import (
    DAY,
    MINUTE,
    RATE_LIMIT_REPLY,
    Quota,
    RateLimited,
    RateLimiter,
    RateLimits,
    client_address,
    is_loopback,
    rate_limited_response,
)
from channels.connector._tokens import CachedToken, SharedTokens, TokenFetch
from channels.connector._uploads import (
    INTAKE_ERRORS,
    REPLIES,
    UploadForm,
    attachment_file,
    error_response,
    read_upload,
    turn_json,
    upload_limits,
)

__all__ = [
    "API_KEY",
    "APP_NAMES",
    "DAY",
    "INTAKE_ERRORS",
    "LINK_REPLIES",
    "MINUTE",
    "NOT_HTTP",
    "PHONE_OFFER",
    "RATE_LIMIT_REPLY",
    "REPLIES",
    "SHARE_PHONE",
    "STATUS",
    "UNHANDLED_AFTER",
    "WRAPPERS",
    "AckFirst",
    "AckFirstMiddleware",
    "AppClient",
    "AppConnector",
    "AppMessage",
    "BodySizeLimit",
    "CachedToken",
    "Card",
    "Choice",
    "KeyedLocks",
    "Kind",
    "PhoneLinks",
    "PhoneOffer",
    "Quota",
    "RateLimited",
    "RateLimiter",
    "RateLimits",
    "SharedTokens",
    "SocketOrigins",
    "TokenFetch",
    "UploadForm",
    "attachment_file",
    "bearer_guard",
    "cards_of",
    "choices_of",
    "client_address",
    "download",
    "error_response",
    "feedback_of",
    "feedback_payload",
    "id_at",
    "install_error_handlers",
    "is_loopback",
    "json_object",
    "last_four",
    "link_reply",
    "member",
    "numbered_text",
    "object_at",
    "offers_phone",
    "rate_limited_response",
    "read_upload",
    "request_origin",
    "same_origin",
    "socket_client_address",
    "status_of",
    "text_at",
    "turn_json",
    "upload_limits",
]
