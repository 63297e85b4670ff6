"""Media intake: uploads of voice messages and images become conversation messages.

The file's real type is sniffed, the original kept for agents for the retention period, its
words read (speech to text, OCR) and passed on as the customer's message; screenshots with an
order id go to the dialogue as the order-status intent.
"""

from channels.intake._cli import media_app
from channels.intake._errors import (
    AttachmentNotFound,
    IntakeError,
    KeptButUnreadable,
    UploadRejected,
    UploadTooLarge,
)
from channels.intake._http import (
    INTAKE_ERRORS,
    REPLIES,
    UploadForm,
    attachment_file,
    build_router,
    error_response,
    read_upload,
    turn_json,
    upload_limits,
)
from channels.intake._intake import (
    ORDER_STATUS_INTENT,
    MediaIntake,
    MediaTurn,
    MediaUpload,
    ReadListener,
    build_intake,
    speech_engine,
)
from channels.intake._store import AttachmentStore, StoredAttachment, discard

__all__ = [
    "INTAKE_ERRORS",
    "ORDER_STATUS_INTENT",
    "REPLIES",
    "AttachmentNotFound",
    "AttachmentStore",
    "IntakeError",
    "KeptButUnreadable",
    "MediaIntake",
    "MediaTurn",
    "MediaUpload",
    "ReadListener",
    "StoredAttachment",
    "UploadForm",
    "UploadRejected",
    "UploadTooLarge",
    "attachment_file",
    "build_intake",
    "build_router",
    "discard",
    "error_response",
    "media_app",
    "read_upload",
    "speech_engine",
    "turn_json",
    "upload_limits",
]
