"""What the hub tells its MQTT broker: credentials, ACLs and the rendered broker configuration."""
