"""Scheduled work (APScheduler): offline detection now; SLA escalation, retention and rollups next."""
