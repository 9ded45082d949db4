-- 0023: mirrors sqlite/0023, so that the dialects' schemas stay alike.
-- PostgreSQL keeps a large source out of line (TOAST) and reads a run's
-- owner without it; the index costs little (both columns change rarely).
CREATE INDEX runs_id_small ON runs (id, owner, cancel_requested);
