"""Errors that carry a user-facing reason; the CLI maps them to exit code 2."""


class NordlidError(Exception):
    """Base class for errors caused by bad input or configuration (not bugs)."""


class AudioDecodeError(NordlidError):
    """An audio file or byte string could not be decoded; the message names it and why."""

    def __init__(self, source: str, reason: str, code: str = "unreadable_audio") -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        self.code = code


class ConfigError(NordlidError):
    """A setting, option or file has a value nordlid cannot use."""


class MissingCheckpointError(NordlidError):
    """Pretrained weights are not available locally and cannot be downloaded."""

    def __init__(self, extractor: str, checkpoint: str, how: str) -> None:
        super().__init__(
            f"extractor {extractor!r}: checkpoint {checkpoint!r} is not available ({how})"
        )
        self.extractor = extractor
        self.checkpoint = checkpoint
        self.how = how
