-- The named move of each status change next to its event: `action` is what people read, and two moves
-- (absorb, fold) read the same, so which move ended a case is kept here. Past rows are filled from
-- their action (a fold's detail names the down parent).
ALTER TABLE case_events ADD COLUMN move text;
UPDATE case_events SET move = CASE action
        WHEN 'opened' THEN 'open'
        WHEN 'dispatched' THEN 'dispatch'
        WHEN 'assigned' THEN 'assign'
        WHEN 'acknowledged' THEN 'acknowledge'
        WHEN 'claimed' THEN 'claim'
        WHEN 'started' THEN 'start'
        WHEN 'resolved' THEN 'resolve'
        WHEN 'closed' THEN 'close'
        WHEN 'reopened' THEN 'reopen'
        WHEN 'cancelled' THEN 'cancel'
        WHEN 'merged' THEN 'merge'
        WHEN 'absorbed' THEN CASE WHEN detail ? 'parent' THEN 'fold' ELSE 'absorb' END
        WHEN 'split' THEN 'split'
    END
WHERE to_status IS NOT NULL;
