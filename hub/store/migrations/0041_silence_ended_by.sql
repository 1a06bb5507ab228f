-- Who ended a silence before its time (NULL: it ran to its end).
ALTER TABLE silences ADD COLUMN ended_by text;
