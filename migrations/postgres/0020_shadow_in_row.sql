-- 0020: a shadowed request is one row of the request log (mirrors
-- sqlite/0020): the candidate's answer in the production version's row,
-- and model_requests_all, one row per request and version as before.
ALTER TABLE model_requests ADD COLUMN shadow_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE model_requests ADD COLUMN shadow_duration_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE model_requests ADD COLUMN shadow_failed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE model_requests ADD COLUMN shadow_kind TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE model_requests ADD COLUMN shadow_predictions TEXT COLLATE "C";
ALTER TABLE model_requests ADD COLUMN shadow_labeled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE model_requests ADD COLUMN shadow_score DOUBLE PRECISION NOT NULL DEFAULT 0;

CREATE VIEW model_requests_all AS
SELECT id, request_id, name, version, shadow, at, duration_us, failed, rows, kind, predictions, labeled, score FROM model_requests
UNION ALL
SELECT id, request_id, name, shadow_version, 1, at, shadow_duration_us, shadow_failed, rows, shadow_kind, shadow_predictions, shadow_labeled, shadow_score
FROM model_requests WHERE shadow_version != 0;
