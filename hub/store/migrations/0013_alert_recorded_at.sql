-- When the hub recorded an alert, on its own clock, next to the device's times (started_at, opened_at):
-- cases and their deadlines run on the hub's clock, and a fold compares hub times with hub times.
ALTER TABLE alerts ADD COLUMN recorded_at timestamptz;
UPDATE alerts SET recorded_at = opened_at;
ALTER TABLE alerts ALTER COLUMN recorded_at SET NOT NULL, ALTER COLUMN recorded_at SET DEFAULT now();
