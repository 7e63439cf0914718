-- The schema, as numbered migrations. db.py applies every "-- migration: N" block whose N is
-- above PRAGMA user_version, each in one transaction, then sets user_version to N.
-- Never edit a released block: add a new one.

-- migration: 1
CREATE TABLE tokens (
    token_hash  TEXT PRIMARY KEY,          -- sha256 hex of the bearer token; the token itself is never stored
    created_at  REAL NOT NULL
);

CREATE TABLE profiles (
    id            TEXT PRIMARY KEY,
    owner         TEXT NOT NULL REFERENCES tokens(token_hash) ON DELETE CASCADE,
    name          TEXT NOT NULL DEFAULT '',
    height_cm     REAL,
    photo_key     TEXT NOT NULL,           -- storage key of the re-encoded photo
    photo_sha256  TEXT NOT NULL,           -- content hash: engines cache person analysis by it
    measurements  TEXT,                    -- JSON from /api/estimate-body, if any
    created_at    REAL NOT NULL
);
CREATE INDEX profiles_by_owner ON profiles(owner, created_at);

CREATE TABLE sessions (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,   -- queue order: oldest first
    id             TEXT NOT NULL UNIQUE,
    owner          TEXT NOT NULL REFERENCES tokens(token_hash) ON DELETE CASCADE,
    profile_id     TEXT,
    status         TEXT NOT NULL CHECK (status IN ('queued', 'processing', 'completed', 'failed')),
    stage          TEXT,
    progress       REAL NOT NULL DEFAULT 0,
    category       TEXT NOT NULL CHECK (category IN ('upper', 'lower', 'dress')),
    person_key     TEXT NOT NULL,
    person_sha256  TEXT NOT NULL,
    garment_key    TEXT NOT NULL,
    result_key     TEXT,
    source_url     TEXT,
    page_url       TEXT,
    metadata       TEXT,                   -- JSON object from the client
    options        TEXT,                   -- JSON object of engine options
    error          TEXT,                   -- shopper-readable sentence when failed
    error_code     TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    kept           INTEGER NOT NULL DEFAULT 0,
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL,
    expires_at     REAL NOT NULL
);
CREATE INDEX sessions_by_status ON sessions(status, seq);
CREATE INDEX sessions_by_owner ON sessions(owner, status, created_at);
CREATE INDEX sessions_by_expiry ON sessions(expires_at) WHERE kept = 0;

-- migration: 2
-- A try-on whose hosted provider kept answering "too many requests" waits in line until
-- retry_at, which a restart honours; deferrals counts those waits (they are not attempts).
ALTER TABLE sessions ADD COLUMN retry_at REAL;
ALTER TABLE sessions ADD COLUMN deferrals INTEGER NOT NULL DEFAULT 0;

-- migration: 3
-- The daily try-on quota per token (--daily-quota). quota_usage counts, per token and UTC day
-- ('YYYY-MM-DD'), the try-ons accepted that day less those refunded. A session charged to the
-- quota carries its day in quota_day; a refund sets it back to NULL. The two triggers make the
-- count move inside the very statement that inserts the session or refunds it: accepted and
-- counted, or failed and refunded, commit together or not at all, and a refund can happen once
-- only (the second one finds quota_day already NULL).
ALTER TABLE sessions ADD COLUMN quota_day TEXT;

CREATE TABLE quota_usage (
    owner  TEXT NOT NULL REFERENCES tokens(token_hash) ON DELETE CASCADE,
    day    TEXT NOT NULL,
    used   INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (owner, day)
) WITHOUT ROWID;

CREATE TRIGGER quota_take AFTER INSERT ON sessions WHEN NEW.quota_day IS NOT NULL
BEGIN
    INSERT INTO quota_usage (owner, day, used) VALUES (NEW.owner, NEW.quota_day, 1)
    ON CONFLICT (owner, day) DO UPDATE SET used = used + 1;
END;

CREATE TRIGGER quota_refund AFTER UPDATE OF quota_day ON sessions
WHEN OLD.quota_day IS NOT NULL AND NEW.quota_day IS NULL
BEGIN
    UPDATE quota_usage SET used = used - 1 WHERE owner = OLD.owner AND day = OLD.quota_day AND used > 0;
END;
