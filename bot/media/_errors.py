"""Errors of media intake beyond the media library's own; the HTTP layer maps them in one place."""


class IntakeError(Exception):
    """Base class of intake errors."""


class UploadRejected(IntakeError):
    """The upload request itself is wrong (a missing field, too large); the text says what."""


class UploadTooLarge(UploadRejected):
    """The file is larger than the configured limit."""


class AttachmentNotFound(IntakeError):
    """No kept attachment has that id, or it was purged after its retention period."""


class KeptButUnreadable(IntakeError):
    """The file was kept for agents but nothing could be read from it (silence, no text)."""

    def __init__(self, cause: Exception, attachment_id: str) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.attachment_id = attachment_id
