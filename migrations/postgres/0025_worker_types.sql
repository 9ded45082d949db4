-- 0025: the task types a remote worker can run (mirrors sqlite/0025): a
-- JSON array of type names, or NULL: it did not say (any type).
ALTER TABLE workers ADD COLUMN types TEXT;
