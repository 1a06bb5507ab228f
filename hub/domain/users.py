"""A logged-in person or system account, as every layer above the store sees it."""

from dataclasses import dataclass

from hub.domain.roles import ALL_COMMUNITIES, Role


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: Role
    communities: tuple[str, ...]

    def community_scope(self) -> list[str] | None:
        """None means every community (admin, operator, integration); managers and residents are limited."""
        return None if self.role in ALL_COMMUNITIES else list(self.communities)
