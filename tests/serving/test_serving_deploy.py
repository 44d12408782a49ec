"""Static checks of the deployment files (no Docker engine runs on these machines):
Dockerfile, docker-compose.yml and .dockerignore parsed and checked for what a deployment
relies on, and every command they run checked against the real CLI."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)  # join continuation lines
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_dockerfile_slim_nonroot_constraints_volume_healthcheck() -> None:
    instructions = _dockerfile()
    words = [w for w, _ in instructions]
    args = {w: [a for ww, a in instructions if ww == w] for w in set(words)}
    assert args["FROM"] == ["python:3.11-slim"]
    user = args["USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    assert words.index("USER") < words.index("CMD")  # the server never runs as root
    installs = [a for a in args["RUN"] if "pip install" in a]
    assert installs and all("--constraint constraints.txt" in a for a in installs)
    assert any("/srv/nordlid/models" in a for a in args["VOLUME"])
    assert any("healthz" in a for a in args["HEALTHCHECK"])
    assert "8000" in args["EXPOSE"]
    cmd = yaml.safe_load(args["CMD"][0])  # JSON exec form
    assert cmd[:2] == ["nordlid", "serve"]
    for copy in args["COPY"]:
        for src in shlex.split(copy)[:-1]:
            assert (ROOT / src).exists(), f"COPY source {src} does not exist"


def test_dockerignore_keeps_state_and_secrets_out() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "data/", "models/", "wandb/"} <= ignored
    copied = {shlex.split(a)[0].rstrip("/") for w, a in _dockerfile() if w == "COPY"}
    assert not copied & {p.rstrip("/") for p in ignored}  # nothing copied is ignored


def test_compose_services_volumes_healthchecks_env() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"redis", "materialize", "api"}

    redis = services["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command  # persistence
    volume, _, target = redis["volumes"][0].partition(":")
    assert target == "/data" and volume in compose["volumes"]
    assert "redis-cli" in redis["healthcheck"]["test"]

    api = services["api"]
    env = api["environment"]
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert "NORDLID_API_KEY" in env
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"
    assert api["depends_on"]["materialize"]["condition"] == "service_completed_successfully"
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    assert api["user"].split(":")[0] not in ("0", "root")
    assert "./models:/srv/nordlid/models:ro" in api["volumes"]
    assert any(p.endswith(":8000") for p in api["ports"])

    job = services["materialize"]
    assert job["restart"] == "no"
    assert job["environment"]["REDIS_URL"] == env["REDIS_URL"]
    assert job["depends_on"]["redis"]["condition"] == "service_healthy"


def _cli_help(args: list[str]) -> str:
    from typer.testing import CliRunner

    from pipeline.cli import app

    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, (args, result.output)
    return result.output


@pytest.mark.parametrize("service", ["api", "materialize"])
def test_compose_commands_exist_in_the_cli(service: str) -> None:
    command = _compose()["services"][service]["command"]
    line = command[-1] if command[0] == "sh" else shlex.join(command)
    for part in line.split("&&"):
        words = shlex.split(part)
        assert words[0] == "nordlid"
        sub = [w for w in words[1:] if not w.startswith("-")]
        sub = [w for w in sub if not re.fullmatch(r"[\d.]+", w)]
        help_text = _cli_help(sub)
        for option in (w for w in words if w.startswith("--")):
            assert option in help_text, f"{option} not an option of {' '.join(words[:3])}"
