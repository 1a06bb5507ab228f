"""Why a request is refused, independent of how it came in: the API answers each kind with its HTTP
status, the command line with its message. Services raise these; only the API knows about HTTP."""


class Refused(Exception):
    """Base of every refusal; its message says what to fix, and `details` may name each problem (a rule
    file's errors by file, rule and field)."""

    def __init__(self, message: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


class NotFound(Refused, LookupError):
    """404: absent, or outside the caller's scope (which must look the same)."""


class Forbidden(Refused, PermissionError):
    """403: the caller's role may not do this."""


class Invalid(Refused, ValueError):
    """422: the request itself is wrong."""


class TooLarge(Invalid):
    """413: a body or file over its limit."""


class Unsupported(Invalid):
    """415: a file of a kind that is not taken."""


class Conflict(Refused):
    """409: not possible in the current state of what it is about."""


class Unauthenticated(Refused):
    """401: no valid credentials (a platform push without a valid signature or token)."""


class TooMany(Refused):
    """429: over a rate limit; try again later."""


class Unavailable(Refused):
    """503: not possible on this worker now (ingest off, queue full, no commit in time); try again."""
