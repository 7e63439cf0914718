"""Celery, configured so that nothing accepted is lost or run twice to completion.

- acks_late: a task is acknowledged when it returns, not when a worker takes it, so a worker
  that dies mid-try-on leaves it unacknowledged in the broker;
- reject_on_worker_lost: a task whose pool process died is handed back to the broker at once.
  The workers run the solo pool, where the process that dies is the worker itself, so for them
  the visibility timeout below is what hands the task back; it is set for a prefork worker;
- prefetch 1, and no prefetch at all (worker_disable_prefetch, Redis only): a worker takes a
  task only when it is free, so the rest wait for whichever worker frees up first and nothing
  waits behind a long try-on. (Without it, a task with a countdown that a busy worker holds
  raises that worker's prefetch by one, and it took a second task it could not start: seen in
  tests/test_scale_out.py, a try-on waiting behind a gated one while the other worker was idle.)
  A retry's countdown task is still held by the worker that received it, so a retry may wait for
  that worker's current try-on;
- the Redis transport's visibility timeout (--visibility-timeout-s, above the longest try-on):
  a task unacknowledged that long, its worker gone, is restored to the queue; the sweep that
  restores it runs a few times per timeout.
"""

from __future__ import annotations

import time

from celery import Celery

from ..config import Settings

TASK = "tryon.run_session"
QUEUE = "tryon"


def make_celery(settings: Settings) -> Celery:
    app = Celery("tryon", broker=settings.broker, set_as_current=False)
    visibility = max(1.0, settings.visibility_timeout_s)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_disable_prefetch=True,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": visibility,
            "unacked_restore_interval": max(1, min(60, int(visibility / 4))),
            "unacked_restore_throttle": 1,
        },
        # our JSON log lines stay ours; Celery's own log records go through them
        worker_hijack_root_logger=False,
        # `celery events` / Flower see every task sent, started, succeeded, retried
        worker_send_task_events=True,
        task_send_sent_event=True,
    )
    return app


def enqueue(app: Celery, session_id: str, countdown_s: float = 0.0) -> None:
    """Publish the task that runs a session (blocking: call it off the event loop)."""
    app.send_task(TASK, args=[session_id, time.time()], countdown=countdown_s or None, queue=QUEUE)
