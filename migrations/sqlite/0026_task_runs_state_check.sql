-- 0026: task_runs' CHECK on state as ten comparisons, not an IN list. The
-- constraint is the same; its cost is not: SQLite evaluates a constant IN
-- list of more than two values by building an ephemeral table of them
-- (a b-tree, its page cache, ten inserts) once per execution of every
-- statement that writes state — each completion, lease and hand-out, two
-- statements a hop of a chain, each of a fan's batches — where ten
-- comparisons cost next to nothing (callgrind, chain of 1,000 noop: 54,000
-- of the 338,000 instructions a hop's commit took).
--
-- A table's CHECK cannot be altered, and rebuilding task_runs would cascade
-- to its attempts (ON DELETE CASCADE); the definition is rewritten in
-- sqlite_schema instead, the procedure SQLite documents for changing
-- constraints that every row already satisfies (lang_altertable.html,
-- "otheralter"): no row is read or written. RESET reloads this
-- connection's schema from the new text; the table made and dropped after
-- it moves the schema cookie, so that every other connection reloads its
-- own. The last statement fails the migration (malformed JSON) if the
-- definition was not the expected one.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql,
'CHECK (state IN (''pending'', ''ready'', ''leased'', ''running'', ''retrying'',
                                                       ''succeeded'', ''failed'', ''skipped'', ''upstream_failed'', ''cancelled''))',
'CHECK (state = ''pending'' OR state = ''ready'' OR state = ''leased'' OR state = ''running'' OR state = ''retrying''
                                                       OR state = ''succeeded'' OR state = ''failed'' OR state = ''skipped''
                                                       OR state = ''upstream_failed'' OR state = ''cancelled'')')
WHERE type = 'table' AND name = 'task_runs';
PRAGMA writable_schema = RESET;
CREATE TABLE migration_0026 (x);
DROP TABLE migration_0026;
SELECT CASE WHEN instr(sql, 'state = ''upstream_failed'' OR state = ''cancelled''') > 0 THEN 1 ELSE json('0026: task_runs is not as expected') END
FROM sqlite_schema WHERE type = 'table' AND name = 'task_runs';
