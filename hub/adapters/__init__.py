"""Adapters: declarative files that map a vendor's messages onto the device contract."""
