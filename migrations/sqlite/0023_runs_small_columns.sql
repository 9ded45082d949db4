-- 0023: the columns of a run read on every completion and heartbeat —
-- its claim's owner (Tx.RunOwner) and cancel_requested — are read from
-- an index, not from the row. The row holds the workflow's source before
-- them, and SQLite reads a column past a large value by walking its
-- overflow pages: for a 100,000-task workflow (3 MB of source, more than
-- the page cache) each such read was some 750 page reads, and a 100k fan
-- ran at a quarter of its speed.
CREATE INDEX runs_id_small ON runs (id, owner, cancel_requested);
