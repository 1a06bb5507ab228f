"""A logged-in person or system account, as every layer above the store sees it."""

from dataclasses import dataclass

from hub.domain.roles import ALL_COMMUNITIES, Role


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: Role
    communities: tuple[str, ...]
    organisation: str | None = None
    """an account bound to an organisation acts for it: its communities are the organisation's and its
    cases those of the organisation's teams"""

    def community_scope(self) -> list[str] | None:
        """None means every community (admin, operator, integration); managers, residents and accounts
        bound to an organisation are limited."""
        if self.organisation is None and self.role in ALL_COMMUNITIES:
            return None
        return list(self.communities)
