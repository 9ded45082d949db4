-- 0002: the plugin binary that ran each attempt (mirrors sqlite/0002).
ALTER TABLE attempts ADD COLUMN plugin TEXT COLLATE "C" NOT NULL DEFAULT '';
