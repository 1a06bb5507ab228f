"""The device registry service: registration, bulk import, and broker credentials."""
