"""Media intake: voice messages and images become conversation messages.

The file's real type is sniffed, the original kept for agents for the retention period, its
words read (speech to text, OCR, through the ``channels.media`` engines the wiring passes in)
and passed on as the customer's message; screenshots with an order id go to the dialogue as the
order-status intent.
"""

from bot.media._errors import (
    AttachmentNotFound,
    IntakeError,
    KeptButUnreadable,
    UploadRejected,
    UploadTooLarge,
)
from bot.media._intake import (
    ORDER_STATUS_INTENT,
    MediaIntake,
    MediaTurn,
    MediaUpload,
    ReadListener,
)
from bot.media._store import AttachmentStore, StoredAttachment, copy_into, discard

__all__ = [
    "ORDER_STATUS_INTENT",
    "AttachmentNotFound",
    "AttachmentStore",
    "IntakeError",
    "KeptButUnreadable",
    "MediaIntake",
    "MediaTurn",
    "MediaUpload",
    "ReadListener",
    "StoredAttachment",
    "UploadRejected",
    "UploadTooLarge",
    "copy_into",
    "discard",
]
