-- 0020: a shadowed request is one row of the request log (issue #22): the
-- candidate's answer goes in the production version's row, written by the
-- same insert, rather than a second row (a second insert per request was
-- most of shadow scoring's cost). shadow_version is the candidate that
-- scored the request (0: none; its answer came too late for the row, or
-- there was no shadow: then it has a row of its own, shadow = 1, as
-- before); the other shadow_ columns are its duration, failure, kind,
-- predictions and feedback.
ALTER TABLE model_requests ADD COLUMN shadow_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE model_requests ADD COLUMN shadow_duration_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE model_requests ADD COLUMN shadow_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE model_requests ADD COLUMN shadow_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE model_requests ADD COLUMN shadow_predictions TEXT;
ALTER TABLE model_requests ADD COLUMN shadow_labeled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE model_requests ADD COLUMN shadow_score REAL NOT NULL DEFAULT 0;

-- model_requests_all: the request log one row per request and version that
-- scored it, as before 0020 (what every reader of the log reads).
CREATE VIEW model_requests_all AS
SELECT id, request_id, name, version, shadow, at, duration_us, failed, rows, kind, predictions, labeled, score FROM model_requests
UNION ALL
SELECT id, request_id, name, shadow_version, 1, at, shadow_duration_us, shadow_failed, rows, shadow_kind, shadow_predictions, shadow_labeled, shadow_score
FROM model_requests WHERE shadow_version != 0;
