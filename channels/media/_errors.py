"""Errors of the media library: each says what is wrong with the file and what to send instead.

Intake code maps every class to an HTTP status and a reply to the customer in one place.
"""


class MediaError(Exception):
    """Base class of media errors."""


class MediaRejected(MediaError):
    """The file cannot be read as sent; the message says why."""


class EmptyMedia(MediaRejected):
    """The file has no content."""


class UnsupportedMedia(MediaRejected):
    """The file is neither a supported audio format nor a supported image format."""


class CorruptMedia(MediaRejected):
    """The file claims a supported format but cannot be decoded."""


class MislabelledMedia(MediaRejected):
    """The file's name or declared type says one kind of media, its content another."""


class AudioTooLong(MediaRejected):
    """The recording is longer than the configured limit."""


class SilentAudio(MediaRejected):
    """The recording holds no speech."""


class NoTextFound(MediaRejected):
    """The image holds no readable text."""


class EngineUnavailable(MediaError):
    """A speech or OCR engine cannot be loaded (missing model or program); not the file's fault."""
