"""nordlid's shared core: what every capability package uses, and nothing above it.

``errors`` (the error types the CLI and HTTP layer map to exit codes and statuses),
``workdir`` (where all generated state lives), ``audio`` (decoding and the model input
rate), ``logs``; the language list here.  This package imports none of the capability
packages (``corpus`` … ``monitoring``) nor the CLI (``pipeline``): the import contract in
``pyproject.toml`` checks it.
"""

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
