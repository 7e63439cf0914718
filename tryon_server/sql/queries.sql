-- Every query the server runs, by name. db.py loads this file once; code calls queries by name.
-- A block starts with "-- name: <name>" and runs to the next one.

-- name: insert_token
INSERT INTO tokens (token_hash, created_at) VALUES (:token_hash, :now);

-- name: token_exists
SELECT 1 FROM tokens WHERE token_hash = :token_hash;

-- name: delete_token
DELETE FROM tokens WHERE token_hash = :token_hash;

-- name: insert_profile
INSERT INTO profiles (id, owner, name, height_cm, photo_key, photo_sha256, created_at)
VALUES (:id, :owner, :name, :height_cm, :photo_key, :photo_sha256, :now);

-- name: get_profile
-- with how many try-ons were made from it, finished (those the archive lists) or still running (on
-- the stage), and how many of those are kept: deleting the profile deletes them all, and the page
-- says so, with the numbers, before it does. A failed one goes too but is not counted: it is never
-- shown, so "all 3 try-ons" beside two tiles would puzzle the shopper
SELECT profiles.*,
       (SELECT count(*) FROM sessions s WHERE s.owner = profiles.owner AND s.profile_id = profiles.id
                                        AND s.status != 'failed') AS tryon_count,
       (SELECT count(*) FROM sessions s WHERE s.owner = profiles.owner AND s.profile_id = profiles.id
                                        AND s.status = 'completed' AND s.kept = 1) AS kept_count
FROM profiles WHERE id = :id AND owner = :owner;

-- name: list_profiles
SELECT profiles.*,
       (SELECT count(*) FROM sessions s WHERE s.owner = profiles.owner AND s.profile_id = profiles.id
                                        AND s.status != 'failed') AS tryon_count,
       (SELECT count(*) FROM sessions s WHERE s.owner = profiles.owner AND s.profile_id = profiles.id
                                        AND s.status = 'completed' AND s.kept = 1) AS kept_count
FROM profiles WHERE owner = :owner ORDER BY created_at DESC, id;

-- name: set_profile_height
-- a size estimated with another height no longer holds: it goes
UPDATE profiles SET height_cm = :height_cm, measurements = NULL WHERE id = :id AND owner = :owner;

-- name: delete_profile
DELETE FROM profiles WHERE id = :id AND owner = :owner;

-- name: set_profile_measurements
UPDATE profiles SET measurements = :measurements WHERE id = :id AND owner = :owner;

-- name: insert_session_if_room
-- the queue bound and the insert in one statement: a burst of uploads that all passed the early
-- check cannot overfill the queue (the one connection runs statements one at a time)
INSERT INTO sessions (id, owner, profile_id, status, stage, category, person_key, person_sha256,
                      garment_key, source_url, page_url, metadata, options, created_at, updated_at, expires_at,
                      quota_day)
SELECT :id, :owner, :profile_id, 'queued', 'queued', :category, :person_key, :person_sha256,
       :garment_key, :source_url, :page_url, :metadata, :options, :now, :now, :expires_at, :quota_day
WHERE (SELECT COUNT(*) FROM sessions WHERE status = 'queued') < :queue_max
  -- made from a profile: only while it exists (deleted meanwhile, its try-ons go with it)
  AND (:profile_id IS NULL OR EXISTS (SELECT 1 FROM profiles WHERE id = :profile_id AND owner = :owner))
  -- the daily quota, when on (:quota_day not NULL): checked here and counted by the quota_take
  -- trigger in this same statement, so a burst of submissions cannot go past it
  AND (:quota_day IS NULL OR COALESCE((SELECT used FROM quota_usage WHERE owner = :owner AND day = :quota_day), 0)
                             < :quota_limit);

-- name: get_session
SELECT * FROM sessions WHERE id = :id AND owner = :owner;

-- name: queue_position
-- 1 for next in line: the queued sessions ahead of this one, plus itself
SELECT COUNT(*) FROM sessions WHERE status = 'queued' AND seq <= :seq;

-- name: count_queued
SELECT COUNT(*) FROM sessions WHERE status = 'queued';

-- name: unfinished_sessions
-- crash recovery: everything accepted and not finished, oldest first
SELECT id, status, retry_at FROM sessions WHERE status IN ('queued', 'processing') ORDER BY seq;

-- name: fail_crashed
-- a session that was processing at every one of its last attempts took the process down with it
-- (the server's fault, not the shopper's: its quota is refunded, see the quota_refund trigger)
UPDATE sessions SET status = 'failed', stage = 'failed', error = :error, error_code = 'engine_crash',
                    updated_at = :now, expires_at = :now + :retention, quota_day = NULL
WHERE status = 'processing' AND attempts >= :max_attempts;

-- name: requeue_processing
UPDATE sessions SET status = 'queued', stage = 'queued', progress = 0, updated_at = :now
WHERE status = 'processing';

-- name: claim_session
-- queued -> processing; the status guard makes a double claim (or a claim of a deleted row) a no-op.
-- :takeover (distributed mode only: its worker holds the session's lease, so whoever claimed it
-- before is gone) also takes a processing one; the new attempt number fences the old claimer out
UPDATE sessions SET status = 'processing', stage = 'starting', progress = 0,
                    attempts = attempts + 1, retry_at = NULL, updated_at = :now
WHERE id = :id AND (status = 'queued' OR (:takeover AND status = 'processing'))
RETURNING *;

-- name: fail_crashed_session
-- distributed mode: fail_crashed for one session, taken over from a worker that died with it
-- at each of its attempts
UPDATE sessions SET status = 'failed', stage = 'failed', error = :error, error_code = 'engine_crash',
                    updated_at = :now, expires_at = :now + :retention, quota_day = NULL
WHERE id = :id AND status = 'processing' AND attempts >= :max_attempts;

-- name: session_status
SELECT status FROM sessions WHERE id = :id;

-- name: stale_sessions
-- distributed mode: sessions whose task may have been lost with a Redis that lost its data, since
-- before :before: queued (and not waiting for a provider), or processing (claimed longer ago than
-- a try-on may run: its worker is gone too, or its lease shows it is not)
SELECT id FROM sessions
WHERE updated_at < :before
  AND ((status = 'queued' AND (retry_at IS NULL OR retry_at <= :now)) OR status = 'processing')
ORDER BY seq LIMIT 1000;

-- The writes after a claim are fenced by the attempt: NULL in the embedded server; in the distributed
-- mode the attempt the worker claimed, so a worker whose claim was taken over changes nothing. The
-- fence includes `processing`: a try-on taken over and deferred (attempts - 1) is queued again with
-- the attempt number the stale worker holds.

-- name: retry_session
UPDATE sessions SET status = 'queued', stage = 'retrying', progress = 0, updated_at = :now
WHERE id = :id AND status = 'processing'
  AND (:attempt IS NULL OR attempts = :attempt);

-- name: defer_session
-- the provider kept rate-limiting it: back in line at retry_at; the attempt is given back, since
-- the try-on itself did not fail
UPDATE sessions SET status = 'queued', stage = 'waiting_for_provider', progress = 0, retry_at = :retry_at,
                    attempts = attempts - 1, deferrals = deferrals + 1, updated_at = :now
WHERE id = :id AND status = 'processing'
  AND (:attempt IS NULL OR attempts = :attempt);

-- name: complete_session
-- retention counts from the result, not from the submission: a long queue costs no viewing time
UPDATE sessions SET status = 'completed', stage = 'done', progress = 1, result_key = :result_key,
                    updated_at = :now, expires_at = :now + :retention
WHERE id = :id AND status = 'processing'
  AND (:attempt IS NULL OR attempts = :attempt);

-- name: fail_session
-- :refund gives the try-on back to the daily quota (quota_day -> NULL fires quota_refund); the
-- status guard makes a second fail a no-op, and a refunded session has no quota_day left to refund
UPDATE sessions SET status = 'failed', stage = 'failed', error = :error, error_code = :error_code,
                    updated_at = :now, expires_at = :now + :retention,
                    quota_day = CASE WHEN :refund THEN NULL ELSE quota_day END
WHERE id = :id AND status IN ('queued', 'processing')
  AND (:attempt IS NULL OR (attempts = :attempt AND status = 'processing'));

-- name: set_kept
UPDATE sessions SET kept = :kept, updated_at = :now WHERE id = :id AND owner = :owner;

-- name: delete_session
DELETE FROM sessions WHERE id = :id AND owner = :owner RETURNING person_key, garment_key, result_key;

-- name: archive_page
-- keyset pagination on (created_at, seq), newest first
SELECT * FROM sessions
WHERE owner = :owner AND status = 'completed'
  AND (:cursor_created IS NULL OR created_at < :cursor_created
       OR (created_at = :cursor_created AND seq < :cursor_seq))
ORDER BY created_at DESC, seq DESC
LIMIT :limit;

-- name: expired_sessions
SELECT id, person_key, garment_key, result_key FROM sessions
WHERE kept = 0 AND expires_at < :now AND status IN ('completed', 'failed')
LIMIT 500;

-- name: delete_session_by_id
DELETE FROM sessions WHERE id = :id;

-- name: delete_owner_sessions
-- RETURNING in the same statement as the delete: a result committed a moment later finds no row
-- and removes its own file, so nothing of the owner survives on disk
DELETE FROM sessions WHERE owner = :owner RETURNING id, person_key, garment_key, result_key;

-- name: delete_owner_profiles
DELETE FROM profiles WHERE owner = :owner RETURNING photo_key;

-- name: delete_profile_sessions
-- the sessions made from a profile are derived from its photo: they go with it
DELETE FROM sessions WHERE profile_id = :profile_id AND owner = :owner
RETURNING id, person_key, garment_key, result_key;

-- name: delete_unused_tokens
-- tokens that never stored anything (no profile, no session) and are older than the cutoff: the
-- leftovers of pages that made a token and left, or of a flood of them
DELETE FROM tokens
WHERE created_at < :cutoff
  AND NOT EXISTS (SELECT 1 FROM profiles WHERE profiles.owner = tokens.token_hash)
  AND NOT EXISTS (SELECT 1 FROM sessions WHERE sessions.owner = tokens.token_hash)
RETURNING token_hash;

-- name: all_file_keys
SELECT person_key AS key FROM sessions
UNION ALL SELECT garment_key FROM sessions
UNION ALL SELECT result_key FROM sessions WHERE result_key IS NOT NULL
UNION ALL SELECT photo_key FROM profiles;

-- name: quota_used
SELECT used FROM quota_usage WHERE owner = :owner AND day = :day;

-- name: delete_past_quota_days
-- the count of a past day is of no more use (a refund of a try-on accepted that day finds no row)
DELETE FROM quota_usage WHERE day < :day;
