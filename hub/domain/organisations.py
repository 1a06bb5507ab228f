"""Organisations: the departments, utilities, contractors, property companies and NGOs that fix what
cases are about. An organisation owns teams — a case sent to one of them is the organisation's case —
and binds integration accounts, through which its own systems act on its cases and on nothing else."""

from enum import StrEnum

ORGANISATION_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class OrganisationKind(StrEnum):
    DEPARTMENT = "department"
    UTILITY = "utility"
    CONTRACTOR = "contractor"
    PROPERTY = "property"
    NGO = "ngo"
