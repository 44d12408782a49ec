"""Everything nordlid relies on that Feast does not promise: the one adapter module.

The fast Redis paths (:mod:`feature_repo.redis_writer`, :mod:`feature_repo.online`,
:mod:`feature_repo.redis_plugin`) write and read the bytes of Feast's Redis store directly, and
the offline join works around one behaviour of Feast's file offline store.  What they depend on
lives here, nowhere else:

- :func:`field_key` — the hash field of a feature, ``mmh3("<view>:<feature>")``, computed by
  Feast's private ``feast.infra.online_stores.helpers._mmh3`` (so it is Feast's own bytes);
- :func:`vector_header` and the ``*_TAG`` constants — the protobuf wire layout of a serialized
  ``feast.Value`` (``float_list_val`` is field 16, ``double_val`` 5, ``float_val`` 6);
- :func:`redis_client` — the client of Feast's Redis store (its private ``_get_client``);
- :class:`RedisReadHook` — the private method of Feast's Redis store that every online read
  goes through (``_read_hash_fields``), overridden here only;
- :func:`fix_created_ties` — the point-in-time join fix: Feast's file offline store may pick
  either of two rows with the same event time, where the later ``created_timestamp`` must win.

``tests/feature_repo/test_feast_compat.py`` checks the Feast version range, that the private
symbols exist and that each of these still reproduces Feast's own output: a Feast upgrade
fails there first, loudly, instead of silently writing other bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

SUPPORTED_FEAST = ((0, 67), (0, 68))
"""Feast versions this module was checked against: ``[0.67, 0.68)``."""

# feast.Value: float_list_val is field 16 (length-delimited → tag bytes 0x82 0x01);
# FloatList.val is field 1, packed (tag 0x0a); double_val: field 5, fixed64 (0x29);
# float_val: field 6, fixed32 (0x35).
FLOAT_LIST_TAG = b"\x82\x01"
PACKED_TAG = 0x0A
DOUBLE_TAG = b"\x29"
FLOAT_TAG = b"\x35"


def feast_version() -> tuple[int, int]:
    """(major, minor) of the installed Feast."""
    major, minor = version("feast").split(".")[:2]
    return int(major), int(minor)


def feast_supported() -> bool:
    """True when the installed Feast is in :data:`SUPPORTED_FEAST` (a warning otherwise)."""
    low, high = SUPPORTED_FEAST
    ok = low <= feast_version() < high
    if not ok:
        logger.warning(
            "Feast %s is outside the range nordlid's Redis plugin was checked against (%s to %s)",
            version("feast"),
            low,
            high,
        )
    return ok


def field_key(view: str, feature: str) -> bytes:
    """The Redis hash field of ``view:feature`` in Feast's Redis store."""
    from feast.infra.online_stores.helpers import _mmh3

    key: bytes = _mmh3(f"{view}:{feature}")
    return key


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def vector_header(length: int) -> bytes:
    """The bytes before the packed floats of a serialized ``Value(float_list_val=[length])``."""
    payload = 4 * length
    inner = bytes([PACKED_TAG]) + encode_varint(payload)
    return FLOAT_LIST_TAG + encode_varint(len(inner) + payload) + inner


def redis_client(store: Any, store_config: Any) -> Any:
    """The redis-py client of a ``RedisOnlineStore`` (created once per store, by Feast's
    private ``_get_client``: ``redis.Redis``, ``RedisCluster`` or a Sentinel master)."""
    return store._get_client(store_config)


# --- the read hook of Feast's Redis store ------------------------------------------------


class RedisReadHook:
    """Mixin before ``RedisOnlineStore``: Feast 0.67's Redis store fetches every hash of
    ``online_read`` and of ``get_online_features`` (all views of a request in one pipeline,
    ``_read_features_per_fv``, which never calls ``online_read``) through its private
    ``_read_hash_fields(config, [(key, fields), ...])``.  This routes that call to
    :meth:`read_hash_fields`; a None from it runs Feast's own."""

    def read_hash_fields(
        self, config: Any, commands: Sequence[tuple[bytes, Sequence[bytes | str]]]
    ) -> list[list[bytes | None]] | None:
        return None

    def _read_hash_fields(
        self, config: Any, commands: Sequence[tuple[bytes, Sequence[bytes | str]]]
    ) -> list[list[bytes | None]]:
        result = self.read_hash_fields(config, commands)
        if result is None:
            feast_read: list[list[bytes | None]] = super()._read_hash_fields(  # type: ignore[misc]
                config, commands
            )
            return feast_read
        return result


# --- the point-in-time join fix ------------------------------------------------------------


def _ns(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")


def _tied_matches(result: pd.DataFrame, keys: pd.DataFrame, join_key: str) -> pd.DataFrame:
    """Result rows (``__pos``) joined with a feature event time (``__ev``) that several rows
    of one utterance share."""
    dup = keys[keys.duplicated([join_key, "event_timestamp"], keep=False)]
    if dup.empty:
        return dup
    wanted = result[[join_key, "event_timestamp"]].copy()
    wanted["__pos"] = np.arange(len(wanted))
    wanted = wanted[wanted[join_key].isin(set(dup[join_key]))]
    if wanted.empty:
        return wanted
    feature_times = keys[keys[join_key].isin(set(wanted[join_key]))].drop_duplicates()
    feature_times = feature_times.rename(columns={"event_timestamp": "__ev"})
    feature_times["__ev"] = _ns(feature_times["__ev"])
    wanted["event_timestamp"] = _ns(wanted["event_timestamp"])
    matched = pd.merge_asof(
        wanted.sort_values("event_timestamp"),
        feature_times.sort_values("__ev"),
        left_on="event_timestamp",
        right_on="__ev",
        by=join_key,
        direction="backward",
    ).dropna(subset=["__ev"])
    dup_pairs = set(zip(dup[join_key], _ns(dup["event_timestamp"]), strict=True))
    keep = [(u, t) in dup_pairs for u, t in zip(matched[join_key], matched["__ev"], strict=True)]
    return matched[keep]


def fix_created_ties(
    result: pd.DataFrame,
    files: Sequence[Path],
    created: str,
    cols: list[str],
    join_key: str = "utterance_id",
) -> None:
    """Where one utterance has several rows with the same event time (a re-extraction that
    kept the event time), the row with the latest ``created`` time must win.  Feast's file
    offline store sorts by created time and then by event time with an unstable sort, so it
    may pick either; this re-reads just those rows of ``files`` and sets the right values of
    ``cols`` (``view__feature``) in ``result`` (in place)."""
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    if not created or not files or result.empty:
        return
    dataset = pads.dataset([str(f) for f in files], format="parquet")
    keys = dataset.to_table(columns=[join_key, "event_timestamp"]).to_pandas()
    matched = _tied_matches(result, keys, join_key)
    if matched.empty:
        return
    rows = dataset.to_table(
        columns=[join_key, "event_timestamp", created, *[c.split("__", 1)[1] for c in cols]],
        filter=pc.field(join_key).isin(sorted(set(matched[join_key]))),
    ).to_pandas()
    rows["event_timestamp"] = _ns(rows["event_timestamp"])
    latest = (
        rows.sort_values(["event_timestamp", created], kind="stable")
        .drop_duplicates([join_key, "event_timestamp"], keep="last")
        .set_index([join_key, "event_timestamp"])
    )
    for pos, uid, ev in zip(matched["__pos"], matched[join_key], matched["__ev"], strict=True):
        winner = latest.loc[(uid, ev)]
        for col in cols:
            result.at[int(pos), col] = winner[col.split("__", 1)[1]]
