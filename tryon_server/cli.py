"""The command line: `python run.py` in a checkout, `tryon-server` once the package is installed.

Both parse the same flags (config.py), decide the engine once, warn about a non-loopback address,
and run uvicorn.
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from .app import WILDCARD_HOSTS, create_app
from .config import parse_settings
from .distributed import check_settings
from .engines import resolve_choice
from .exceptions import ConfigError
from .http_server import uvicorn_config
from .logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(argv)
    configure_logging(settings.log_level)
    log = logging.getLogger("tryon.run")
    try:
        # fail fast, with the reason, before anything listens; `auto` is decided (and explained) once
        check_settings(settings)
        if not settings.distributed:  # distributed: the engine is the workers' (each decides `auto` itself)
            settings = settings.with_(engine=resolve_choice(settings))
    except ConfigError as exc:
        log.error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning(
            "!!! listening on %s: other machines can reach this server and your photos. "
            "Use the default --host 127.0.0.1 unless you really mean it. !!!", settings.host or "all interfaces",
        )
        if settings.host in WILDCARD_HOSTS and not settings.allowed_hosts:
            log.warning("bound to all interfaces: pass --allowed-hosts NAME so requests to this machine's name are accepted")
    app = create_app(settings)
    log.info("starting on http://%s:%d (engine %s, data in %s)", settings.host, settings.port, settings.engine,
             settings.data_dir)
    uvicorn.Server(uvicorn_config(app, settings)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
