"""The rule engine: rule files, a small safe expression language, and a pure evaluator (no DB, no MQTT)."""
