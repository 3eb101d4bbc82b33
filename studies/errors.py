"""Domain errors raised by services; the API maps them to HTTP status codes."""


class DomainError(Exception):
    """Base: a message that can be shown to the user as it is."""

    status_code = 400
    code: str | None = None  # for clients that act on one refusal in particular (the API sends it)

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None, errors=()):
        self.message = message
        self.field = field
        self.line = line
        self.errors = list(errors)  # every problem found, when a file had several
        where = ", ".join(part for part in (line and f"line {line}", field and f"field '{field}'") if part)
        super().__init__(f"{where}: {message}" if where else message)


class InvalidInput(DomainError):
    """The request or file is malformed; nothing was stored."""


class RuleViolation(DomainError):
    """The request is well-formed but breaks a study rule (wrong status, already read, …)."""

    status_code = 409


class AlreadyRead(RuleViolation):
    """The server holds this reader's read of the case already, under another idempotency key (another tab,
    another device): a client's copy of it is not lost, it is a twin."""

    code = "already_read"


class NotAllowed(DomainError):
    """The user may not do this (role, membership, washout)."""

    status_code = 403


class NotFound(DomainError):
    status_code = 404


class LockedOut(DomainError):
    """Too many failed logins for this account; refused until the lockout ends."""

    status_code = 429


def located(message: str, *, line: int | None = None, field: str | None = None) -> str:
    """A message prefixed with where it applies, as the API and commands show it."""
    return str(DomainError(message, line=line, field=field))
