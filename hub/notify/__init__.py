"""Case notifications: webhooks and per-team MQTT topics fed from the outbox, and the SSE stream."""
