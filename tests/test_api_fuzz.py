"""API fuzzing: Schemathesis, driven by the server's own /openapi.json, with every check it has
(server errors, status codes, content types, headers, response schemas, negative data rejected,
positive data accepted, Allow headers, auth ignored, use after free...), all phases (examples,
coverage, fuzzing, stateful), a fixed seed and a bounded number of examples. Zero failures.

The server runs in this process on loopback with its DNS and outbound connections replaced:
every host name resolves to 127.0.0.1 (so a generated `garment_url` is refused as not public) and
any connection to a non-loopback address is refused on the spot. Fuzzing therefore sends no
traffic anywhere but loopback, however wild the URLs it makes up.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import fixture_bytes, image_bytes, new_token, start_server, wait_terminal
from tests.doubles import InstantEngine
from tests.garments import draw_top

MAX_EXAMPLES = int(os.environ.get("TRYON_FUZZ_EXAMPLES", "25"))

# Statuses a schema-valid request may still get, per operation, because OpenAPI cannot say it:
# - an uploaded file must be a decodable JPEG/PNG/WebP of at least 32 px: 415 or 422, and a
#   garment_url must actually download: 422 (each is a documented answer of the operation);
# - the archive cursor is an opaque value only the server makes: a made-up one is a 400.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "429"]

[[operations]]
include-name = ["POST /api/profiles", "POST /api/tryon/sessions", "POST /api/estimate-body"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "415", "422", "429", "503"]

[[operations]]
include-name = "GET /api/tryon/archive"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "429"]
"""


def _fake_address(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return "127.0.0.1"


@pytest.fixture
def offline_server(settings, monkeypatch: pytest.MonkeyPatch):
    real_create = asyncio.BaseEventLoop.create_connection

    async def fake_dns(self, host, port, *args, **kwargs):
        address = _fake_address(str(host))
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port or 0))]

    async def loopback_only(self, protocol_factory, host=None, port=None, *args, **kwargs):
        if host is not None and not ipaddress.ip_address(_fake_address(str(host))).is_loopback:
            raise ConnectionRefusedError(f"fuzz guard: no connections beyond loopback ({host})")
        return await real_create(self, protocol_factory, host, port, *args, **kwargs)

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", fake_dns)
    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", loopback_only)
    live = start_server(settings.with_(rate_limit_per_minute=0, submit_limit_per_minute=0), InstantEngine)
    yield live
    live.stop()


# Reads of real resources: without these the generated ids only ever meet a 404.
SEEDED = """
[[operations]]
include-name = "GET /api/profiles/{{profile_id}}"
parameters = {{ "path.profile_id" = "{profile_id}" }}

[[operations]]
include-name = ["GET /api/tryon/sessions/{{session_id}}", "GET /api/tryon/sessions/{{session_id}}/events",
                "POST /api/tryon/sessions/{{session_id}}/keep"]
parameters = {{ "path.session_id" = "{session_id}" }}
"""


def seed(live, token: str) -> dict[str, str]:
    """One profile and one completed session for the run to read, keep and un-keep."""
    with live.client(token) as c:
        photo = {"photo": ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg")}
        profile_id = c.post("/api/profiles", files=photo).json()["profile_id"]
        r = c.post("/api/tryon/sessions", data={"profile_id": profile_id, "options": '{"output_size": 128}'},
                   files={"garment": ("g.png", image_bytes(draw_top()), "image/png")})
        session_id = r.json()["session_id"]
        assert wait_terminal(c, session_id)["status"] == "completed"
    return {"profile_id": profile_id, "session_id": session_id}


def run_schemathesis(live, token: str, tmp_path: Path, *extra: str,
                     ids: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG + (SEEDED.format(**ids) if ids else ""))
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", f"{live.url}/openapi.json",
        "--header", f"Authorization: Bearer {token}", "--checks", "all", "--max-examples", str(MAX_EXAMPLES),
        "--seed", "20261122", "--workers", "1", "--generation-database", "none", "--no-color",
        "--generation-with-security-parameters", "false", "--request-timeout", "30", *extra,
    ]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_schemathesis_finds_no_failure_in_any_operation(offline_server, tmp_path):
    token = new_token(offline_server)
    # DELETE /api/tokens/current erases the token the run authenticates with: fuzzed on its own below
    ids = seed(offline_server, token)
    result = run_schemathesis(offline_server, token, tmp_path, "--exclude-name", "DELETE /api/tokens/current", ids=ids)
    output = result.stdout + result.stderr
    print(output[-3000:])
    assert result.returncode == 0, output[-12000:]
    assert "Operations:       17 selected / 18 total" in output  # everything but the erase-all call
    assert httpx.get(offline_server.url + "/api/health").status_code == 200


def test_schemathesis_on_the_erase_everything_call(offline_server, tmp_path):
    token = new_token(offline_server)
    result = run_schemathesis(offline_server, token, tmp_path, "--include-name", "DELETE /api/tokens/current")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-12000:]
    with httpx.Client(base_url=offline_server.url, headers={"Authorization": f"Bearer {token}"}) as c:
        assert c.get("/api/profiles").status_code == 401  # it really erased the token
