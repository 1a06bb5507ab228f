"""Pure domain models shared by every stage; no I/O lives here."""
