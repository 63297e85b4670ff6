"""One customer across apps: app identities linked by a phone number the app vouches for, kept
only as a keyed hash."""

from bot.identity._errors import IdentityError, InvalidPhone
from bot.identity._phone import LINK_WORDS, PhoneHasher, is_link_request, normalize_phone
from bot.identity._service import IdentityLink, IdentityService, LinkResult

__all__ = [
    "LINK_WORDS",
    "IdentityError",
    "IdentityLink",
    "IdentityService",
    "InvalidPhone",
    "LinkResult",
    "PhoneHasher",
    "is_link_request",
    "normalize_phone",
]
