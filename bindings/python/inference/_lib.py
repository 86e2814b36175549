"""Finding libinference and declaring its C interface for ctypes.

Everything here mirrors include/inference.h: the structs field by field in
header order, the functions with their exact argument and return types.
The rest of the package uses only `lib` (the loaded library, prototypes
set) and the structs.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double,
                    c_float, c_int, c_int32, c_int64, c_size_t, c_uint64,
                    c_void_p)
from typing import Iterator, List, Optional, Tuple

LIBRARY_ENV = "INFERENCE_LIBRARY"
SONAME = "libinference.so.0.2"
_HERE = os.path.dirname(os.path.abspath(__file__))

# The library versions this binding was written for: 0.2.x (before 1.0 a
# minor version may change the ABI: 0.2 grew inf_model_info and
# inf_discovered, whose layouts are mirrored below).
_MIN_VERSION = 200  # INF_VERSION_NUMBER of 0.2.0
_MAX_VERSION_EXCL = 300  # 0.3.0

INF_SEED_RANDOM = 2**64 - 1
INF_DEFAULT_MAX_TOKENS = 256

# ---------------------------------------------------------------- structs


class inf_token(Structure):
    _fields_ = [
        ("id", c_int32),
        ("text", c_void_p),  # const char *, text_len bytes (read with string_at)
        ("text_len", c_size_t),
        ("logits", POINTER(c_float)),
        ("n_logits", c_int32),
    ]


class inf_message(Structure):
    _fields_ = [("role", c_char_p), ("content", c_char_p)]


class inf_generate_options(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("max_tokens", c_int32),
        ("temperature", c_float),
        ("top_k", c_int32),
        ("top_p", c_float),
        ("min_p", c_float),
        ("repeat_penalty", c_float),
        ("repeat_last_n", c_int32),
        ("seed", c_uint64),
        ("stop_ids", POINTER(c_int32)),
        ("n_stop_ids", c_size_t),
        ("stop_strings", POINTER(c_char_p)),
        ("n_stop_strings", c_size_t),
        ("return_logits", c_int),
        ("ignore_eos", c_int),
        ("cancel", c_void_p),
        ("chat_template", c_char_p),
        ("template_vars_json", c_char_p),
        ("tools_json", c_char_p),
        ("add_generation_prompt", c_int),
        ("prompt_ids", POINTER(c_int32)),
        ("n_prompt_ids", c_size_t),
        ("presence_penalty", c_float),
        ("frequency_penalty", c_float),
        ("logit_bias_ids", POINTER(c_int32)),
        ("logit_bias_values", POINTER(c_float)),
        ("n_logit_bias", c_size_t),
        ("priority", c_int32),
        ("constraint_kind", c_int32),
        ("constraint", c_char_p),
    ]


class inf_option_bound(Structure):
    _fields_ = [("field", c_char_p), ("min", c_double), ("max", c_double),
                ("is_integer", c_int)]


PROGRESS_FN = CFUNCTYPE(None, c_float, c_void_p)
LOG_FN = CFUNCTYPE(None, c_int, c_char_p, c_void_p)


class inf_load_options(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("backend", c_char_p),
        ("context_length", c_int32),
        ("gpu_layers", c_int32),
        ("parallel_slots", c_int32),
        ("n_threads", c_int32),
        ("dummy_weights", c_int),
        ("dummy_bits", c_int32),
        ("dummy_group", c_int32),
        ("dummy_dtype", c_char_p),
        ("model_name", c_char_p),
        ("api_key", c_char_p),
        ("timeout_ms", c_int64),
        ("progress", PROGRESS_FN),
        ("progress_user", c_void_p),
        ("kv_memory", c_int64),
        ("no_prefix_cache", c_int),
        ("prefill_chunk", c_int32),
        ("precision", c_int32),
        ("copy_weights", c_int),  # issue 14: read weights, do not map
    ]


class inf_model_info(Structure):
    _fields_ = [
        ("architecture", c_char * 32),
        ("backend", c_char * 32),
        ("vocab_size", c_int32),
        ("n_layers", c_int32),
        ("hidden_size", c_int32),
        ("quant_bits", c_int32),
        ("quant_group", c_int32),
        ("context_length", c_int32),
        ("weight_bytes", c_int64),
        # appended with GGUF support
        ("format", c_char * 16),
        ("weight_types", c_char * 128),
        ("train_context", c_int32),
        ("tokenizer_model", c_char * 16),
        ("tokenizer_pre", c_char * 32),
        ("chat_template", c_int32),
    ]


class inf_metrics(Structure):
    _fields_ = [
        ("prompt_tokens", c_int64),
        ("generated_tokens", c_int64),
        ("prefill_seconds", c_double),
        ("decode_seconds", c_double),
        ("total_seconds", c_double),
        ("prefill_tokens_per_second", c_double),
        ("decode_tokens_per_second", c_double),
        ("peak_memory_bytes", c_int64),
        ("active_memory_bytes", c_int64),
        ("cached_prompt_tokens", c_int64),
        ("prefix_lookup_tokens", c_int64),
        ("prefix_hit_tokens", c_int64),
        ("kv_blocks_total", c_int64),
        ("kv_blocks_used", c_int64),
        ("kv_blocks_cached", c_int64),
        ("kv_blocks_free", c_int64),
        ("kv_evictions", c_int64),
        ("kv_block_tokens", c_int32),
    ]


class inf_classify_result(Structure):
    _fields_ = [
        ("status", c_int),
        ("error", c_void_p),  # char *
        ("token_id", c_int32),
        ("text", c_void_p),  # char *
        ("logits", POINTER(c_float)),
        ("n_logits", c_int32),
    ]


class inf_batch_result(Structure):
    _fields_ = [
        ("status", c_int),
        ("error", c_void_p),  # char *
        ("token_ids", POINTER(c_int32)),
        ("n_tokens", c_size_t),
        ("text", c_void_p),  # char *
        ("finish_reason", c_int),  # inf_finish_reason
        ("metrics", inf_metrics),
    ]


class inf_discovered(Structure):
    _fields_ = [
        ("path", c_void_p),  # char *
        ("model_type", c_void_p),  # char *
        ("quant_bits", c_int32),
        ("quant_group", c_int32),
        ("n_safetensors", c_int32),
        # added with GGUF support
        ("format", c_void_p),  # char *
        ("weight_types", c_void_p),  # char *
        ("n_files", c_int32),
    ]


# ------------------------------------------------------------- prototypes

_p = POINTER
_errp = _p(c_void_p)  # char **errmsg: read with string_at, free with inf_free
_PROTOTYPES = [
    # name, restype, argtypes
    ("inf_version", c_char_p, []),
    ("inf_version_number", c_int, []),
    ("inf_strerror", c_char_p, [c_int]),
    ("inf_status_name", c_char_p, [c_int]),
    ("inf_free", None, [c_void_p]),
    ("inf_utf8_valid_prefix", c_size_t, [c_char_p, c_size_t]),
    ("inf_set_log_callback", None, [LOG_FN, c_void_p, c_int]),
    ("inf_cancel_new", c_void_p, []),
    ("inf_cancel_trigger", None, [c_void_p]),
    ("inf_cancel_set_timeout", None, [c_void_p, c_int64]),
    ("inf_cancel_check", c_int, [c_void_p]),
    ("inf_cancel_free", None, [c_void_p]),
    ("inf_finish_reason_name", c_char_p, [c_int]),
    ("inf_finish_reason_openai", c_char_p, [c_int]),
    ("inf_generate_options_default", None, [_p(inf_generate_options)]),
    ("inf_generate_option_bounds", _p(inf_option_bound), [_p(c_size_t)]),
    ("inf_generate_option_bound", _p(inf_option_bound), [c_char_p]),
    ("inf_generate_options_check", c_int, [_p(inf_generate_options), _errp]),
    ("inf_load_options_default", None, [_p(inf_load_options)]),
    ("inf_model_load", c_int, [c_char_p, _p(inf_load_options), _p(c_void_p), _errp]),
    ("inf_model_close", None, [_p(c_void_p)]),
    ("inf_model_type", c_char_p, [c_void_p]),
    ("inf_model_info_get", c_int, [c_void_p, _p(inf_model_info)]),
    ("inf_model_metrics", c_int, [c_void_p, _p(inf_metrics)]),
    ("inf_model_errcode", c_int, [c_void_p]),
    ("inf_model_errmsg", c_char_p, [c_void_p]),
    ("inf_model_generation_defaults", c_int, [c_void_p, _p(inf_generate_options)]),
    ("inf_generate", c_int, [c_void_p, c_char_p, _p(inf_generate_options), _p(c_void_p)]),
    ("inf_chat", c_int, [c_void_p, _p(inf_message), c_size_t, _p(inf_generate_options),
                         _p(c_void_p)]),
    ("inf_model_logits", c_int, [c_void_p, _p(c_int32), c_size_t, _p(_p(c_float)),
                                 _p(c_int32), _errp]),
    ("inf_stream_next", c_int, [c_void_p, _p(inf_token)]),
    ("inf_stream_err", c_int, [c_void_p]),
    ("inf_stream_errmsg", c_char_p, [c_void_p]),
    ("inf_stream_finish_reason", c_int, [c_void_p]),
    ("inf_stream_metrics", c_int, [c_void_p, _p(inf_metrics)]),
    ("inf_stream_cancel", None, [c_void_p]),
    ("inf_stream_close", None, [_p(c_void_p)]),
    ("inf_classify", c_int, [c_void_p, _p(c_char_p), c_size_t, _p(inf_generate_options),
                             _p(_p(inf_classify_result))]),
    ("inf_classify_results_free", None, [_p(inf_classify_result), c_size_t]),
    ("inf_batch_generate", c_int, [c_void_p, _p(c_char_p), c_size_t,
                                   _p(inf_generate_options), _p(_p(inf_batch_result))]),
    ("inf_batch_results_free", None, [_p(inf_batch_result), c_size_t]),
    ("inf_backend_get", c_void_p, [c_char_p]),
    ("inf_backend_count", c_size_t, []),
    ("inf_backend_at", c_void_p, [c_size_t]),
    ("inf_backend_name", c_char_p, [c_void_p]),
    ("inf_backend_description", c_char_p, [c_void_p]),
    ("inf_backend_available", c_int, [c_void_p, _p(c_char), c_size_t]),
    ("inf_backend_default", c_void_p, [_errp]),
    ("inf_discover", c_int, [c_char_p, _p(_p(inf_discovered)), _p(c_size_t), _errp]),
    ("inf_discovered_free", None, [_p(inf_discovered), c_size_t]),
    ("inf_tokenizer_load", c_int, [c_char_p, _p(c_void_p), _errp]),
    ("inf_tokenizer_free", None, [c_void_p]),
    ("inf_tokenize", c_int, [c_void_p, c_char_p, c_size_t, c_int, _p(_p(c_int32)),
                             _p(c_size_t), _errp]),
    ("inf_detokenize", c_int, [c_void_p, _p(c_int32), c_size_t, c_int, _p(c_void_p),
                               _p(c_size_t), _errp]),
    ("inf_tokenizer_vocab_size", c_int32, [c_void_p]),
    ("inf_tokenizer_piece", c_char_p, [c_void_p, c_int32]),
    ("inf_tokenizer_is_special", c_int, [c_void_p, c_int32]),
    ("inf_tokenizer_bos_id", c_int32, [c_void_p]),
    ("inf_tokenizer_eos_id", c_int32, [c_void_p]),
    ("inf_model_tokenizer", c_void_p, [c_void_p]),
    ("inf_chat_template_load", c_int, [c_char_p, _p(c_void_p), _errp]),
    ("inf_chat_template_parse", c_int, [c_char_p, c_char_p, c_char_p, _p(c_void_p), _errp]),
    ("inf_chat_template_free", None, [c_void_p]),
    ("inf_chat_template_source", c_char_p, [c_void_p]),
    ("inf_chat_template_is_fallback", c_int, [c_void_p]),
    ("inf_chat_template_apply", c_int, [c_void_p, c_char_p, c_int, c_char_p, c_char_p,
                                        _p(c_void_p), _errp]),
    ("inf_model_chat_template", c_void_p, [c_void_p]),
    ("inf_chat_template_render", c_int, [c_char_p, c_char_p, _p(inf_message), c_size_t, c_int,
                                         c_char_p, c_char_p, _p(c_void_p), _errp]),
]


# ------------------------------------------------------------- the lookup

def _source_trees() -> List[str]:
    """Source checkouts whose build folders may hold the library: the one
    this package sits in (bindings/python/inference), and the one it was
    installed from (recorded by setup.py)."""
    roots = []
    here = os.path.normpath(os.path.join(_HERE, "..", "..", ".."))
    if os.path.isfile(os.path.join(here, "include", "inference.h")):
        roots.append(here)
    try:
        from ._source_tree import SOURCE_TREE  # written by setup.py at install
    except ImportError:
        SOURCE_TREE = None
    if SOURCE_TREE and os.path.isfile(os.path.join(SOURCE_TREE, "include", "inference.h")) \
            and SOURCE_TREE not in roots:
        roots.append(SOURCE_TREE)
    return roots


def _sanitized(build_dir: str) -> bool:
    """A sanitizer build's library cannot be loaded into an uninstrumented
    Python (the ASan runtime would end the process)."""
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt"), encoding="utf-8",
                  errors="replace") as f:
            for line in f:
                if line.startswith("INF_SANITIZE:") and line.rstrip().endswith("=ON"):
                    return True
    except OSError:
        pass
    return False


def candidates() -> Iterator[Tuple[str, str]]:
    """(where, path) pairs in lookup order; see README.md, "Finding the
    library"."""
    env = os.environ.get(LIBRARY_ENV)
    if env:
        if os.path.isdir(env):
            env = os.path.join(env, "libinference.so")
        yield LIBRARY_ENV, env
        return  # an explicit choice is final
    for name in (SONAME, "libinference.so"):
        p = os.path.join(_HERE, name)
        if os.path.exists(p):
            yield "next to the package", p
    for root in _source_trees():
        dirs = [os.path.join(root, "build")]
        others = [d for d in glob.glob(os.path.join(root, "build*"))
                  if d not in dirs and os.path.isfile(os.path.join(d, "libinference.so"))]
        others.sort(key=lambda d: os.path.getmtime(os.path.join(d, "libinference.so")),
                    reverse=True)
        for d in dirs + others:
            p = os.path.join(d, "libinference.so")
            if os.path.isfile(p) and not _sanitized(d):
                yield "the build tree", p
    yield "the system's library path", SONAME
    found = ctypes.util.find_library("inference")
    if found and found != SONAME:
        yield "the system's library path", found


def _declare(cdll: ctypes.CDLL, path: str) -> None:
    for name, restype, argtypes in _PROTOTYPES:
        try:
            f = getattr(cdll, name)
        except AttributeError:
            raise ImportError(f"{path} has no {name}: it is older than this binding "
                              f"(rebuild the library)") from None
        f.restype = restype
        f.argtypes = argtypes


def _open() -> Tuple[ctypes.CDLL, str]:
    tried = []
    for where, path in candidates():
        try:
            cdll = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path} ({where}): {e}")
            if where == LIBRARY_ENV:
                break
            continue
        try:
            _declare(cdll, path)
            v = cdll.inf_version_number()
            if not _MIN_VERSION <= v < _MAX_VERSION_EXCL:
                raise ImportError(f"{path} is libinference {cdll.inf_version().decode()}; "
                                  f"this binding needs 0.1 or a later 0.x")
        except ImportError as e:
            tried.append(f"{path} ({where}): {e}")
            if where == LIBRARY_ENV:
                break
            continue
        real = path
        try:
            # The path the loader actually mapped (a bare soname resolves here).
            real = os.path.realpath(_mapped_path(cdll) or path)
        except OSError:
            pass
        return cdll, real
    raise ImportError(
        "cannot find libinference.so: set INFERENCE_LIBRARY to the library (or its "
        "folder), build it in the source tree (cmake --build build), or install it "
        "(cmake --install build).  Tried:\n  " + "\n  ".join(tried or ["nothing"]))


def _mapped_path(cdll: ctypes.CDLL) -> Optional[str]:
    """The file the dynamic loader mapped for cdll (from /proc/self/maps)."""
    addr = ctypes.cast(cdll.inf_version, c_void_p).value
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split(None, 5)
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                if lo <= addr < hi and len(parts) == 6:
                    return parts[5].strip()
    except (OSError, ValueError):
        return None
    return None


lib, library_path = _open()


# ---------------------------------------------------------------- helpers

def take_string(p: Optional[int]) -> str:
    """Reads a char * the caller owns and frees it with inf_free."""
    if not p:
        return ""
    try:
        return ctypes.string_at(p).decode("utf-8", "replace")
    finally:
        lib.inf_free(p)


def cstr(b: Optional[bytes]) -> str:
    return b.decode("utf-8", "replace") if b else ""
