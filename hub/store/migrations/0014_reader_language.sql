-- What each reader needs to read an alert or a case in their own language: the rule's Chinese title next
-- to its English one, and why an alert cleared as a code with its values (clear_reason stays, in English).
ALTER TABLE alerts ADD COLUMN title_zh text, ADD COLUMN clear_facts jsonb;
ALTER TABLE cases ADD COLUMN title_zh text;
