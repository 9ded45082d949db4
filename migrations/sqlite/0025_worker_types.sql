-- 0025: a remote worker says at registration which task types it can run
-- (the built-in ones of its version and those of its plugins), and is
-- leased only tasks of those types: a worker without a plugin no longer
-- takes, and hands back, that plugin's tasks. A JSON array of type
-- names, or NULL: the worker did not say (one of an earlier version),
-- and is leased any type, handing back what it lacks, as before.
ALTER TABLE workers ADD COLUMN types TEXT;
