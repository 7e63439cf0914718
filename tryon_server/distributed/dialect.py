"""Every difference between SQLite and PostgreSQL, in one place.

The schema (sql/schema.sql, numbered migrations) and the queries (sql/queries.sql, by name) are
written once, in the SQLite the embedded server runs. For PostgreSQL they pass through here:

- parameters `:name` become psycopg's `%(name)s` (a literal `%` is doubled);
- `INTEGER PRIMARY KEY AUTOINCREMENT` becomes `BIGSERIAL PRIMARY KEY` (the queue order `seq`),
  `REAL` becomes `DOUBLE PRECISION` (Unix times need more than PostgreSQL's 4-byte real),
  `WITHOUT ROWID` (an SQLite storage hint) goes;
- SQLite's `CREATE TRIGGER ... BEGIN ... END;` has no PostgreSQL spelling: each trigger has its
  PostgreSQL version (a function and a trigger) in `TRIGGERS`, by name. A migration that adds a
  trigger missing there stops the migration with that sentence, rather than running half of it;
- the schema version: `PRAGMA user_version` in SQLite, the table `schema_version` here (pgdb.py);
- queries that SQLite runs one at a time on its single writer connection and that must not
  interleave across processes (`SERIALISED`) take a transaction-wide advisory lock first.
"""

from __future__ import annotations

import re

_PARAM_RE = re.compile(r"(?<![:\w]):(\w+)")
_TRIGGER_RE = re.compile(r"CREATE TRIGGER (\w+)\b.*?\bEND;", re.DOTALL | re.IGNORECASE)
_COMMENT_RE = re.compile(r"--[^\n]*")

# Check-then-insert in one statement: atomic on SQLite's one connection; between PostgreSQL
# sessions two of them could both see room for one more (the queue bound, the daily quota).
# The deletions that must take along a session inserted meanwhile (a profile's try-ons, all of a
# token's) take the same lock: under READ COMMITTED a delete does not see a row committed after
# its statement began, and the insert's EXISTS check still sees a profile whose delete has not
# committed, so without it a try-on submitted from a profile being deleted survived the deletion
# (its photo with it). On SQLite's one connection the two transactions never interleave.
SERIALISED = frozenset({"insert_session_if_room", "delete_profile", "delete_owner_sessions"})
# the advisory lock keys of this application (pg_advisory_xact_lock / pg_try_advisory_lock)
LOCK_KEYS = {"insert_session": 0x7472_7931, "migrate": 0x7472_7932, "expiry": 0x7472_7933}

TRIGGERS: dict[str, str] = {
    # migration 3: a session charged to the daily quota counts in the statement that inserts it
    "quota_take": """
CREATE FUNCTION quota_take() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO quota_usage (owner, day, used) VALUES (NEW.owner, NEW.quota_day, 1)
    ON CONFLICT (owner, day) DO UPDATE SET used = quota_usage.used + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER quota_take AFTER INSERT ON sessions
FOR EACH ROW WHEN (NEW.quota_day IS NOT NULL) EXECUTE FUNCTION quota_take();
""",
    # ... and is given back, once, by the statement that refunds it
    "quota_refund": """
CREATE FUNCTION quota_refund() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE quota_usage SET used = used - 1 WHERE owner = OLD.owner AND day = OLD.quota_day AND used > 0;
    RETURN NULL;
END $$;
CREATE TRIGGER quota_refund AFTER UPDATE OF quota_day ON sessions
FOR EACH ROW WHEN (OLD.quota_day IS NOT NULL AND NEW.quota_day IS NULL) EXECUTE FUNCTION quota_refund();
""",
}


class DialectError(RuntimeError):
    pass


def query(sql: str) -> str:
    """A named query, for psycopg (comments dropped: a `:word` in one is no parameter)."""
    return _PARAM_RE.sub(r"%(\1)s", _COMMENT_RE.sub("", sql).replace("%", "%%"))


def migration(number: int, sql: str) -> str:
    """A migration block, for PostgreSQL (run as one script, inside one transaction)."""

    def trigger(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in TRIGGERS:
            raise DialectError(f"migration {number} creates the trigger {name}, which has no PostgreSQL version "
                               f"in tryon_server/distributed/dialect.py TRIGGERS; add one there.")
        return TRIGGERS[name].strip()

    sql = _COMMENT_RE.sub("", sql)  # comments could hold words the rules below would rewrite
    sql = _TRIGGER_RE.sub(trigger, sql)
    sql = re.sub(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b", "BIGSERIAL PRIMARY KEY", sql, flags=re.IGNORECASE)
    sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)
    sql = re.sub(r"\)\s*WITHOUT ROWID", ")", sql, flags=re.IGNORECASE)
    return sql
