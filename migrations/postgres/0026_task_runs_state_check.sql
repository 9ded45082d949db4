-- 0026: nothing to do on PostgreSQL (mirrors sqlite/0026, which rewrites
-- task_runs' CHECK on state as comparisons: SQLite builds a table of an
-- IN list's values at every statement that writes state; PostgreSQL
-- compares with the list's array as it is).
SELECT 1;
