-- 0015: per-model alerts (mirrors sqlite/0015): the event CHECK takes the
-- per-model events; model, version, value and bound of a per-model alert;
-- model_alert_state, whether its condition held at the last finding.
ALTER TABLE alerts DROP CONSTRAINT alerts_event_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_event_check
    CHECK (event IN ('failure', 'success', 'gate_failed', 'drift', 'live_metric_below', 'p99_latency_above'));
ALTER TABLE alerts ADD COLUMN model TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN value DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN bound DOUBLE PRECISION NOT NULL DEFAULT 0;

CREATE TABLE model_alert_state (
    name       TEXT COLLATE "C" NOT NULL,
    version    BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    event      TEXT COLLATE "C" NOT NULL,
    holds      BIGINT NOT NULL,
    fired      BIGINT NOT NULL,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (name, version, seq, event)
);
