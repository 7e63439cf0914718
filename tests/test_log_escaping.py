"""The JSON log cannot be split or forged by what a client sends: characters that other readers
take for line ends (U+2028, U+2029, U+0085) or that reorder text on a terminal (bidi overrides)
are escaped like JSON escapes control characters. Against the real server process's log.
"""

from __future__ import annotations

import json
import logging

import httpx

from tests.server_process import ServerProcess
from tryon_server.logs import JsonFormatter

FORGED = '\u2028{"level": "error", "msg": "forged"}\u0085\u2029\u202eevil'


def test_a_log_line_stays_one_line_for_every_reader():
    record = logging.LogRecord("tryon.access", logging.INFO, __file__, 1, "GET /%s", (FORGED,), None)
    line = JsonFormatter().format(record)
    assert len(line.splitlines()) == 1  # Python splits on U+2028, U+2029 and U+0085 too
    assert all(ord(c) < 0x7F or ord(c) >= 0xA0 for c in line)
    for char in "\u2028\u2029\u0085\u202e":
        assert char not in line
    assert json.loads(line)["msg"] == "GET /" + FORGED  # escaped, not lost


def test_a_request_path_cannot_forge_a_line_in_the_servers_log(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    try:
        path = "/api/nothing" + httpx.URL("/" + FORGED).raw_path.decode()[1:]
        assert httpx.get(server.url + path).status_code == 404
    finally:
        server.terminate()
    lines = [line for line in server.log_tail(1 << 20).splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one whole JSON object
    assert not any(e.get("msg") == "forged" for e in entries)
    assert any(e.get("path") == "/api/nothing" + FORGED for e in entries), lines[-3:]
