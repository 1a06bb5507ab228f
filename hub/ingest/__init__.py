"""From MQTT bytes to committed rows: topic grammar, decoding, the broker client and the pipeline."""
