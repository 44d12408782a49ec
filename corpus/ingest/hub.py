"""Resolve a dataset argument: a local directory, or a Hugging Face Hub dataset id.

Hub downloads go through ``huggingface_hub.snapshot_download`` (only the files the adapter
needs), which honours ``HF_HUB_OFFLINE``: offline, only the local cache is used and a
missing dataset is reported with what to do instead.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from corpus.ingest.common import IngestError

log = logging.getLogger(__name__)

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_dataset(source: str | Path, *, allow_patterns: list[str], what: str) -> Path:
    """Return a local directory holding the dataset layout."""
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise IngestError(f"{what}: {path} is not a directory")
        return path.resolve()
    text = str(source)
    if not _REPO_ID.match(text):
        raise IngestError(
            f"{what}: {text} does not exist (give a local directory or a hub dataset id)"
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
    )

    log.info(
        "%s: fetching %s from the Hugging Face Hub (%d file patterns)",
        what,
        text,
        len(allow_patterns),
    )
    log.debug("%s: file patterns %s", what, allow_patterns)
    try:
        local = snapshot_download(repo_id=text, repo_type="dataset", allow_patterns=allow_patterns)
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        raise IngestError(
            f"{what}: dataset {text!r} is not in the local Hugging Face cache and the hub "
            "cannot be reached (HF_HUB_OFFLINE or no network); download it elsewhere and pass "
            "its directory"
        ) from exc
    except (HfHubHTTPError, HFValidationError, OSError) as exc:
        raise IngestError(f"{what}: cannot fetch dataset {text!r} from the hub: {exc}") from exc
    return Path(str(local))
