"""Exceptions raised by awareness-analysis.

Every error the package raises on purpose derives from :class:`AwarenessAnalysisError`, so
callers (and the CLI) can tell "the package refused, with a reason" from a programming bug.
Messages name the problem and the fix, and never carry a credential.
"""

from __future__ import annotations


class AwarenessAnalysisError(Exception):
    """Base class of every error this package raises deliberately."""


class ConfigError(AwarenessAnalysisError, ValueError):
    """Configuration is missing or malformed (environment variable, config file, argument)."""


class MimecastAPIError(AwarenessAnalysisError):
    """The Mimecast API answered with a failure (a ``fail`` entry or an error status).

    Both API 1.0 (``fail[].errors[]``) and API 2.0 (``fail[]`` with ``code``/``message``) failure
    shapes are turned into this one type.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: bool = False,
        http_status: int | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.retryable = retryable
        self.http_status = http_status
        self.path = path
        self.hint = hint
        super().__init__(code, message)

    def __str__(self) -> str:
        return self._text()

    def _text(self) -> str:
        where = f" from {self.path}" if self.path else ""
        status = f" (HTTP {self.http_status})" if self.http_status is not None else ""
        text = f"Mimecast API error {self.code}{where}{status}: {self.message}"
        if self.hint:
            text += f". {self.hint}"
        return text


class MimecastResponseError(AwarenessAnalysisError):
    """A response could not be understood (not JSON, wrong shape) or never arrived."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        self.http_status = http_status
        super().__init__(message)


class TotalCountMismatch(MimecastResponseError):
    """A paginated call's pages add up to another number of records than its ``totalCount``."""


class PaginationError(MimecastResponseError):
    """The API's paging would loop forever (repeated token, empty page that still has next)."""


class StoreError(AwarenessAnalysisError):
    """A snapshot store is missing, empty, or holds an unreadable snapshot."""
