-- What a receiver needs to act on a case without asking back: the organisation responsible (the owner
-- of the case's team), the place (building, grid, device), the deadlines, a street-office call's codes
-- when the event is about one, and links to the case and to the evidence photos of the work. Nothing
-- personal is added: no reporter, no notes, no residents' photos.
CREATE OR REPLACE FUNCTION notify_case_event_payload(e case_events) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'event_id', e.id,
        'case_id', e.case_id,
        'action', e.action,
        'from_status', e.from_status,
        'to_status', e.to_status,
        'at', to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'community', c.community_id,
        'team', c.team,
        'category', c.category,
        'severity', c.severity,
        'title', c.title,
        'organisation', (SELECT t.organisation FROM teams t WHERE t.id = c.team),
        'place', jsonb_build_object('building', c.building, 'grid', c.grid, 'device_id', c.device_id),
        'deadlines', jsonb_build_object(
            'ack_due_at', to_char(c.ack_due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            'resolve_due_at', to_char(c.resolve_due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
        'call', CASE WHEN e.detail ? 'call_id' THEN jsonb_build_object(
            'id', e.detail -> 'call_id', 'organisation', e.detail -> 'organisation',
            'answer', e.detail -> 'answer', 'respond_by', e.detail -> 'respond_by') END,
        'links', jsonb_build_object(
            'case', '/api/v1/cases/' || c.id,
            'evidence', coalesce((SELECT jsonb_agg('/api/v1/cases/' || c.id || '/attachments/' || a.id ORDER BY a.id)
                                  FROM case_attachments a WHERE a.case_id = c.id AND a.purpose = 'evidence'),
                                 '[]'::jsonb)))
    FROM cases c
    WHERE c.id = e.case_id
$$;
