"""Run the real service under uvicorn for tests that need a real server and its log.

``python live_service.py PORT REDIS_URL PREFIX`` — settings from ``NORDLID_*`` as usual; the
toy extractors are registered the way a user adds a backbone, and the online store is a
:class:`serving_toys.RedisHashStore` under ``PREFIX`` (the fixture clears it afterwards).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import serving_toys  # noqa: E402
import uvicorn  # noqa: E402


def main(port: int, redis_url: str, prefix: str) -> None:
    from extractors import registry
    from serving.app import create_app

    registry.names()
    for entry in serving_toys.registry_entries():
        registry._ENTRIES[entry.name] = entry
    store = serving_toys.RedisHashStore(
        redis_url, prefix, {"lid_servetone": ["servetone"], "lid_servefine": ["servefine"]}
    )
    app = create_app(store=store)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info", ws_ping_interval=None)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
