"""Text that reaches a batch's status, its Events or the operator's log, made from an
exception: never an input key (keys may hold names, docs/operator.md)."""

from __future__ import annotations

from ocr_job.storage.base import StorageError

MAX_MESSAGE = 300


def printable(text: str) -> str:
    """`text` with every non-printable character (line breaks, escape sequences, controls)
    shown as `?`: what reaches an Event or a status message cannot drive a terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)


class SafeError(RuntimeError):
    """An error whose message was made by `safe_error` (or holds no key by construction)."""


def safe_error(exc: BaseException) -> str:
    """Our storage errors (made from bucket, prefix and endpoint, never from an input key)
    keep their message, printable and short; anything else is named by its class only, as
    its text may quote an input key."""
    if isinstance(exc, SafeError):
        return str(exc)[:MAX_MESSAGE]
    if isinstance(exc, StorageError):
        return printable(str(exc))[:MAX_MESSAGE]
    return f"{type(exc).__name__} (details withheld: they may quote an input key)"
