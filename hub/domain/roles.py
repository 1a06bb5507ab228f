"""Who may do what: the roles a user account has, and the groups of roles the API checks."""

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    MANAGER = "manager"
    RESIDENT = "resident"
    INTEGRATION = "integration"
    MEMBER = "member"
    """a person of an organisation (a contractor's crew lead, a department's clerk): bound to it, handles
    its cases in the dashboard as its integration accounts do through the API, and nothing else"""


HANDLERS = frozenset({Role.ADMIN, Role.OPERATOR, Role.MANAGER})
"""handle cases: act on them, add evidence, see teams"""
VERIFIERS = frozenset({Role.ADMIN, Role.OPERATOR})
"""verify and close the work of others; silence rules; read rule sets"""
ALL_COMMUNITIES = frozenset({Role.ADMIN, Role.OPERATOR, Role.INTEGRATION})
"""see every community; managers and residents see only their own"""
STEWARDS = frozenset({Role.ADMIN, Role.MANAGER})
"""run accounts, teams and communities (managers: their own communities')"""
ORGANISATION_ROLES = frozenset({Role.INTEGRATION, Role.MEMBER})
"""accounts bound to an organisation act for it: members always, integration accounts once bound"""
