"""nordlid: a Feast-centric embedding feature platform for North Germanic spoken LID."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nordlid")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

LANGUAGES: tuple[str, ...] = ("da", "fo", "is", "no", "sv")
LANGUAGE_NAMES: dict[str, str] = {
    "da": "Danish",
    "fo": "Faroese",
    "is": "Icelandic",
    "no": "Norwegian",
    "sv": "Swedish",
}

__all__ = ["LANGUAGES", "LANGUAGE_NAMES", "__version__"]
