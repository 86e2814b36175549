"""Exceptions: one class per INF_E_* status code of include/inference.h.

Every exception the library's failures raise is an `InferenceError`; its
`str()` is the library's own message for that call (the `char **errmsg`,
`inf_model_errmsg` or `inf_stream_errmsg` text), or `inf_strerror(code)`
when the library gave none.  `code` is the negative INF_E_* value and
`status_name` its name without prefix ("E_CANCELLED").
"""
from __future__ import annotations

from typing import Dict, Optional, Type

__all__ = [
    "InferenceError", "InvalidArgumentError", "OutOfMemoryError", "InferenceIOError",
    "FormatError", "UnsupportedError", "NotFoundError", "BackendNotRegisteredError",
    "BackendUnavailableError", "NoBackendsError", "ContextLengthError", "CancelledError",
    "DeadlineExceededError", "TokenizerError", "TemplateError", "NetworkError",
    "RemoteError", "BusyError", "LimitError", "StateError", "InternalError", "error_for",
]


class InferenceError(Exception):
    """A libinference failure.  `code`: the INF_E_* value (negative);
    `message`: the library's message (also `str(e)`)."""

    code: int = 0
    status_name: str = ""

    def __init__(self, message: str = "", code: Optional[int] = None) -> None:
        if code is not None and code != type(self).code:
            self.code = code
            from ._lib import lib  # late: errors.py stays importable alone
            self.status_name = lib.inf_status_name(code).decode()
        if not message:
            from ._lib import lib
            message = lib.inf_strerror(self.code).decode()
        super().__init__(message)
        self.message = message


class InvalidArgumentError(InferenceError, ValueError):
    """INF_E_INVALID_ARGUMENT: a value out of range, a malformed argument."""
    code, status_name = -1, "E_INVALID_ARGUMENT"


class OutOfMemoryError(InferenceError):
    """INF_E_NOMEM."""
    code, status_name = -2, "E_NOMEM"


class InferenceIOError(InferenceError, OSError):
    """INF_E_IO: a file could not be read."""
    code, status_name = -3, "E_IO"


class FormatError(InferenceError):
    """INF_E_FORMAT: a malformed or invalid file."""
    code, status_name = -4, "E_FORMAT"


class UnsupportedError(InferenceError):
    """INF_E_UNSUPPORTED: a feature the model or backend does not have."""
    code, status_name = -5, "E_UNSUPPORTED"


class NotFoundError(InferenceError):
    """INF_E_NOT_FOUND."""
    code, status_name = -6, "E_NOT_FOUND"


class BackendNotRegisteredError(InferenceError):
    """INF_E_BACKEND_NOT_REGISTERED: no backend of that name."""
    code, status_name = -7, "E_BACKEND_NOT_REGISTERED"


class BackendUnavailableError(InferenceError):
    """INF_E_BACKEND_UNAVAILABLE: the backend cannot run on this hardware."""
    code, status_name = -8, "E_BACKEND_UNAVAILABLE"


class NoBackendsError(InferenceError):
    """INF_E_NO_BACKENDS."""
    code, status_name = -9, "E_NO_BACKENDS"


class ContextLengthError(InferenceError):
    """INF_E_CONTEXT_LENGTH: the prompt does not fit in the context."""
    code, status_name = -10, "E_CONTEXT_LENGTH"


class CancelledError(InferenceError):
    """INF_E_CANCELLED: the operation was cancelled (`TokenStream.cancel`,
    `CancelToken.cancel`, Ctrl-C)."""
    code, status_name = -11, "E_CANCELLED"


class DeadlineExceededError(InferenceError, TimeoutError):
    """INF_E_DEADLINE: the `timeout=` (or a CancelToken's deadline) passed."""
    code, status_name = -12, "E_DEADLINE"


class TokenizerError(InferenceError):
    """INF_E_TOKENIZER."""
    code, status_name = -13, "E_TOKENIZER"


class TemplateError(InferenceError):
    """INF_E_TEMPLATE: the chat template failed (its own message, e.g. the
    text of a raise_exception)."""
    code, status_name = -14, "E_TEMPLATE"


class NetworkError(InferenceError):
    """INF_E_NETWORK (remote backends)."""
    code, status_name = -15, "E_NETWORK"


class RemoteError(InferenceError):
    """INF_E_REMOTE: the remote server answered with an error."""
    code, status_name = -16, "E_REMOTE"


class BusyError(InferenceError):
    """INF_E_BUSY: too many requests are waiting."""
    code, status_name = -17, "E_BUSY"


class LimitError(InferenceError):
    """INF_E_LIMIT: a size or render limit was hit."""
    code, status_name = -18, "E_LIMIT"


class StateError(InferenceError):
    """INF_E_STATE: not valid in this state (e.g. the model is closed)."""
    code, status_name = -19, "E_STATE"


class InternalError(InferenceError):
    """INF_E_INTERNAL."""
    code, status_name = -20, "E_INTERNAL"


_BY_CODE: Dict[int, Type[InferenceError]] = {
    c.code: c for c in (
        InvalidArgumentError, OutOfMemoryError, InferenceIOError, FormatError,
        UnsupportedError, NotFoundError, BackendNotRegisteredError,
        BackendUnavailableError, NoBackendsError, ContextLengthError, CancelledError,
        DeadlineExceededError, TokenizerError, TemplateError, NetworkError, RemoteError,
        BusyError, LimitError, StateError, InternalError)
}


def error_for(code: int, message: str = "") -> InferenceError:
    """The exception for status `code` with `message` (the library's)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return InferenceError(message, code)
    return cls(message)
