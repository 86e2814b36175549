"""libinference from Python: load a model, then generate, chat, classify and
batch-generate, over the C library through ctypes.

    import inference
    with inference.load("models/brown-llama-8m") as model:
        for token in model.generate("The jury said", max_tokens=40):
            print(token.text, end="", flush=True)

The library is found through INFERENCE_LIBRARY, next to this package, in
the source tree's build folders, or on the system's library path (see
bindings/python/README.md); `inference.library_path` says which file was
loaded.  Failures raise InferenceError subclasses (inference.errors) that
carry the library's messages.
"""
from __future__ import annotations

import atexit
import ctypes
import logging
import threading
from ctypes import byref, c_size_t, c_void_p, POINTER
from typing import Callable, Dict, List, Optional

from . import _lib, errors
from ._lib import INF_DEFAULT_MAX_TOKENS, INF_SEED_RANDOM, lib, library_path, take_string
from ._types import (Backend, BatchResult, Classification, Discovered, Message, Metrics,
                     ModelInfo, OptionBound, Token)
from .errors import *  # noqa: F401,F403  (the exception classes)
from .errors import InferenceError, error_for
from .model import CancelToken, Model, TokenStream, load
from .text import ChatTemplate, Tokenizer, render_chat_template

__version__ = "0.2.0"

__all__ = [
    "load", "Model", "TokenStream", "Token", "Message", "Metrics", "ModelInfo",
    "Classification", "BatchResult", "CancelToken", "Tokenizer", "ChatTemplate",
    "render_chat_template", "backends", "default_backend", "discover", "option_bounds",
    "library_version", "library_path", "set_log_callback", "log_to_python",
    "Backend", "Discovered", "OptionBound", "INF_SEED_RANDOM", "INF_DEFAULT_MAX_TOKENS",
    "LOG_DEBUG", "LOG_INFO", "LOG_WARN", "LOG_ERROR",
] + errors.__all__

LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR = 0, 1, 2, 3


def library_version() -> str:
    """The linked library's version ("0.2.0")."""
    return lib.inf_version().decode()


def backends() -> List[Backend]:
    """The registered backends in registration order (the built-in ones
    first, in the order the default prefers them), each with whether it is
    available here and, when not, why."""
    out = []
    why = ctypes.create_string_buffer(512)
    for i in range(lib.inf_backend_count()):
        b = lib.inf_backend_at(i)
        if not b:
            continue
        why.value = b""
        ok = lib.inf_backend_available(b, why, len(why))
        out.append(Backend(_lib.cstr(lib.inf_backend_name(b)),
                           _lib.cstr(lib.inf_backend_description(b)), bool(ok),
                           "" if ok else why.value.decode("utf-8", "replace")))
    return out


def default_backend() -> str:
    """The name of the backend load() picks without `backend=`; raises
    NoBackendsError (the library's message) when none is available."""
    err = c_void_p()
    b = lib.inf_backend_default(byref(err))
    msg = take_string(err.value)
    if not b:
        raise error_for(errors.NoBackendsError.code, msg)
    return _lib.cstr(lib.inf_backend_name(b))


def discover(path: str) -> List[Discovered]:
    """Models in `path` and its immediate subdirectories: model directories
    (config.json plus *.safetensors) and GGUF files (a split set once);
    `path` itself first when it is a model directory, the rest sorted by
    path."""
    out = POINTER(_lib.inf_discovered)()
    n = c_size_t()
    err = c_void_p()
    rc = lib.inf_discover(str(path).encode(), byref(out), byref(n), byref(err))
    msg = take_string(err.value)
    if rc != 0:
        raise error_for(rc, msg)
    try:
        res = []
        for i in range(n.value):
            d = out[i]
            res.append(Discovered(_str(d.path), _str(d.model_type), d.quant_bits,
                                  d.quant_group, d.n_safetensors, _str(d.format),
                                  _str(d.weight_types), d.n_files))
        return res
    finally:
        if out:
            lib.inf_discovered_free(out, n.value)


def _str(p: Optional[int]) -> str:
    return ctypes.string_at(p).decode("utf-8", "replace") if p else ""


def option_bounds() -> Dict[str, OptionBound]:
    """The library's table of accepted ranges for the numeric generation
    options (inf_generate_option_bounds), by field name."""
    n = c_size_t()
    p = lib.inf_generate_option_bounds(byref(n))
    return {p[i].field.decode(): OptionBound(p[i].field.decode(), p[i].min, p[i].max,
                                             bool(p[i].is_integer))
            for i in range(n.value)}


# ---------------------------------------------------------------- logging

_log_lock = threading.Lock()
_log_cb: Optional[ctypes._CFuncPtr] = None  # type: ignore[name-defined]
# Every callback ever installed stays alive: a library thread may be inside
# the previous one while it is replaced.
_log_cbs: List[object] = []


def set_log_callback(fn: Optional[Callable[[int, str], None]],
                     min_level: int = LOG_INFO) -> None:
    """Receives the library's diagnostics: fn(level, message) with level
    LOG_DEBUG..LOG_ERROR, called from whichever thread logs (the model's
    worker thread too).  None stops it.  Process-wide."""
    global _log_cb
    with _log_lock:
        if fn is None:
            lib.inf_set_log_callback(_lib.LOG_FN(), None, 0)
            _log_cb = None
            return

        def cb(level: int, msg: bytes, user: object) -> None:
            fn(level, msg.decode("utf-8", "replace") if msg else "")
        new = _lib.LOG_FN(cb)
        _log_cbs.append(new)
        lib.inf_set_log_callback(new, None, int(min_level))
        _log_cb = new


_PY_LEVELS = {LOG_DEBUG: logging.DEBUG, LOG_INFO: logging.INFO, LOG_WARN: logging.WARNING,
              LOG_ERROR: logging.ERROR}


def log_to_python(logger: str = "inference", min_level: int = LOG_INFO) -> None:
    """Routes the library's diagnostics to the `logging` logger `logger`."""
    lg = logging.getLogger(logger)
    set_log_callback(lambda level, msg: lg.log(_PY_LEVELS.get(level, logging.INFO), "%s", msg),
                     min_level)


@atexit.register
def _unset_log_callback() -> None:
    # The library's threads must not call into a finalising interpreter.
    if _log_cb is not None:
        set_log_callback(None)
