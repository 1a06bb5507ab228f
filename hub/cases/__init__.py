"""Cases: the lifecycle state machine, routing, and the service that opens and moves cases."""
