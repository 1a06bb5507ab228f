"""One row of the audit log: who did or read what, on which target, and how it ended."""

from dataclasses import dataclass, field
from typing import Any

from hub.domain.users import User


@dataclass(frozen=True)
class AuditEntry:
    actor: User
    action: str
    """e.g. case.resolve, access_events.read, user.create"""
    target_type: str
    target_id: str | None
    community: str | None
    """None: the target's own community is looked up when the row is written"""
    outcome: int
    """the HTTP status answered"""
    client_addr: str | None
    details: dict[str, Any] = field(default_factory=dict)
