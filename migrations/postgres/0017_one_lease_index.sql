-- 0017: one index of the leases, not two (issue #18). Every lease and every
-- completion wrote both task_runs_lease_expiry (lease_expires_at) and
-- task_runs_lease_run (run_id, lease_expires_at), two pages of the log per
-- hop of a chain; every heartbeat too. Both are partial (lease_token IS
-- NOT NULL): they hold the leases in progress, no more, so the queries of
-- all leases (the expired ones, a worker's, the count per worker) read
-- the whole of task_runs_lease_run instead, and order what they keep.
DROP INDEX task_runs_lease_expiry;
