-- 0002: the plugin binary that ran each attempt (issue #7), as the JSON of a
-- cairn.PluginRef ({"name","version","sha256","protocol"}); '' for built-in
-- task types. Written in the completion's transaction; the lineage reads it.
ALTER TABLE attempts ADD COLUMN plugin TEXT NOT NULL DEFAULT '';
