"""The distributed mode (docs/scale-out.md): API processes and GPU workers sharing PostgreSQL
(state), Redis (Celery's broker, progress) and a folder (images). Chosen by --database; the
embedded default never imports this package's modules but this one."""

from __future__ import annotations

from ..config import Settings
from ..exceptions import ConfigError


def check_settings(settings: Settings) -> None:
    """The three distributed settings come together, and the extra that runs them is installed."""
    if not (settings.database or settings.broker or settings.storage):
        return
    if not settings.database.startswith(("postgresql://", "postgres://")):
        raise ConfigError("The distributed mode needs --database postgresql://USER@HOST:PORT/DB "
                          "(with --broker and --storage).")
    if not settings.broker.startswith(("redis://", "rediss://")):
        raise ConfigError("The distributed mode needs --broker redis://HOST:PORT/N (Celery's broker).")
    if not settings.storage:
        raise ConfigError("The distributed mode needs --storage DIR, a folder every API process and worker sees.")
    try:
        import celery  # noqa: F401
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
        import redis  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"The distributed mode needs its extra ({exc.name} is missing): "
                          f"pip install -e '.[distributed]'") from None
