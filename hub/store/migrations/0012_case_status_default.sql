-- A case is born `new`: the insert leaves the status to this default, and every later status change is
-- a move written by hub/store/case_status.py.
ALTER TABLE cases ALTER COLUMN status SET DEFAULT 'new';
