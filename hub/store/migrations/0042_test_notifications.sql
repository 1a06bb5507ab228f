-- A test notification an admin sends to one webhook subscription: an outbox row with no case event
-- behind it (case_event_id NULL), delivered, signed and recorded like any other, tried once.
ALTER TABLE notification_outbox ALTER COLUMN case_event_id DROP NOT NULL;
ALTER TABLE notification_outbox ADD CONSTRAINT notification_outbox_test_is_webhook
    CHECK (case_event_id IS NOT NULL OR channel = 'webhook');
-- The dead deliveries, counted on the health page and listed per subscription until someone acts.
CREATE INDEX notification_outbox_dead ON notification_outbox (subscription_id, id) WHERE status = 'dead';
