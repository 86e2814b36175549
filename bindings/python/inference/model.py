"""Models, streams, cancellation: Generate / Chat / Classify / BatchGenerate."""
from __future__ import annotations

import ctypes
import json
import math
import operator
import threading
import weakref
from array import array
from ctypes import byref, c_char_p, c_float, c_int32, c_void_p, POINTER
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional,
                    Sequence, Tuple, Union)

from . import _lib, _sigint
from ._lib import lib, take_string, INF_SEED_RANDOM
from ._types import (BatchResult, Classification, Message, Metrics, ModelInfo, Token,
                     finish_reason_name, float_array)
from .errors import (CancelledError, InferenceError, InvalidArgumentError,
                     OutOfMemoryError, StateError, UnsupportedError, error_for)

__all__ = ["load", "Model", "TokenStream", "CancelToken"]

Prompt = Union[str, Sequence[int]]
MessageLike = Union[Mapping[str, Any], Message]

_I32_MIN, _I32_MAX = -2**31, 2**31 - 1


# ----------------------------------------------------------------- values

def _encode(name: str, s: str) -> bytes:
    if not isinstance(s, str):
        raise TypeError(f"{name} must be a str, not {type(s).__name__}")
    b = s.encode("utf-8")
    if b"\0" in b:
        raise InvalidArgumentError(f"{name} contains a NUL character")
    return b


def _int(name: str, v: Any, lo: int = _I32_MIN, hi: int = _I32_MAX) -> int:
    try:
        v = operator.index(v)
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(v).__name__}") from None
    if not lo <= v <= hi:
        raise InvalidArgumentError(f"{name} = {v} is out of range [{lo}, {hi}]")
    return v


def _bounded_int(field: str, v: Any) -> int:
    """An int32 option field; beyond int32, the library's own range message."""
    try:
        v = operator.index(v)
    except TypeError:
        raise TypeError(f"{field} must be an int, not {type(v).__name__}") from None
    if not _I32_MIN <= v <= _I32_MAX:
        b = lib.inf_generate_option_bound(field.encode())
        lo, hi = (b.contents.min, b.contents.max) if b else (_I32_MIN, _I32_MAX)
        raise InvalidArgumentError(f"{field} = {float(v):g} is out of range [{lo:g}, {hi:g}]")
    return v


def _float(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
        raise TypeError(f"{name} must be a number, not {type(v).__name__}")
    return float(v)


def _ids(name: str, ids: Iterable[int]) -> array:
    try:
        return array("i", ids)
    except OverflowError:
        raise InvalidArgumentError(f"{name}: a token id does not fit in 32 bits") from None
    except TypeError:
        raise TypeError(f"{name} must be a sequence of ints") from None


def _ids_ptr(a: array) -> Any:
    return (c_int32 * len(a)).from_buffer(a) if len(a) else None


def _timeout_ms(timeout: Any) -> int:
    t = _float("timeout", timeout)
    if not t > 0 or math.isinf(t):
        raise InvalidArgumentError(f"timeout = {t:g} must be a positive number of seconds")
    return max(1, int(round(t * 1000)))


# ------------------------------------------------------------ cancellation

class CancelToken:
    """A library cancellation token (inf_cancel), the C counterpart of a Go
    context: pass it as `cancel=` to any number of operations, and call
    `cancel()` from any thread (or a signal handler) to end them all; they
    end within one decode step with CancelledError.  A timeout makes them
    end with DeadlineExceededError instead.  Thread-safe."""

    def __init__(self, timeout: Optional[float] = None) -> None:
        """timeout: seconds from now to the deadline (None: none)."""
        self._c = lib.inf_cancel_new()
        if not self._c:
            raise OutOfMemoryError("inf_cancel_new failed")
        if timeout is not None:
            self.set_timeout(timeout)

    @property
    def _as_parameter_(self) -> int:
        return self._c

    def cancel(self) -> None:
        """Cancels every operation watching this token; idempotent."""
        lib.inf_cancel_trigger(self._c)

    def set_timeout(self, timeout: Optional[float]) -> None:
        """Sets the deadline `timeout` seconds from now; None clears it."""
        lib.inf_cancel_set_timeout(self._c, 0 if timeout is None else _timeout_ms(timeout))

    @property
    def cancelled(self) -> bool:
        """True once cancel() was called or the deadline passed."""
        return lib.inf_cancel_check(self._c) != 0

    def check(self) -> None:
        """Raises CancelledError or DeadlineExceededError when triggered."""
        rc = lib.inf_cancel_check(self._c)
        if rc:
            raise error_for(rc)

    def __del__(self) -> None:
        c, self._c = getattr(self, "_c", None), None
        if c and lib is not None:
            lib.inf_cancel_free(c)


# ------------------------------------------------------------------- load

def load(path: str, backend: Optional[str] = None, context_length: Optional[int] = None,
         parallel_slots: Optional[int] = None, threads: Optional[int] = None, *,
         gpu_layers: Optional[int] = None, model_name: Optional[str] = None,
         api_key: Optional[str] = None, timeout: Optional[float] = None,
         dummy_weights: bool = False, dummy_bits: Optional[int] = None,
         dummy_group: Optional[int] = None, dummy_dtype: Optional[str] = None,
         progress: Optional[Callable[[float], None]] = None,
         precision: Optional[str] = None, kv_memory: Optional[int] = None,
         prefix_cache: bool = True, prefill_chunk: Optional[int] = None,
         copy_weights: bool = False) -> "Model":
    """Loads a model (inf_model_load): a Hugging Face model directory, or
    what the chosen backend accepts (a URL for "openai", a GGUF file for
    "llama_cpp").

    backend: "cpu", "cuda", "openai", "llama_cpp"; None picks the default
    (inference.default_backend()).  context_length: tokens of context (None:
    the model's, capped at 4096).  parallel_slots: sequences decoded together
    (None: the backend's default, 4 on the native engine).  threads: compute
    threads (None: one per core).  gpu_layers: layers on the GPU (None:
    all).  model_name, api_key, timeout (seconds per request): remote
    backends.  dummy_*: random weights of the config's shape (benchmarks).
    progress: called with the load fraction 0..1 (from the loading thread).
    precision: "exact" or "fast" (None: $INF_PRECISION, else exact; see
    inf_load_options.precision).  kv_memory: bytes of KV cache shared by all
    sequences (None: context x slots).  prefix_cache: False never reuses
    cached prompt blocks.  prefill_chunk: prompt tokens per step while other
    streams decode (None/0: adaptive, -1: no chunking).  copy_weights: True
    reads the weight files into memory instead of mapping them, so that a
    file truncated or rewritten in place cannot kill the process with
    SIGBUS (inf_load_options.copy_weights; costs the files' size in RAM).

    Raises an InferenceError subclass with the library's message (e.g.
    InferenceIOError for a missing directory).  The Model is a context
    manager; close() it (or leave the `with` block) to free it."""
    p = _encode("path", str(path) if not isinstance(path, str) else path)
    o = _lib.inf_load_options()
    lib.inf_load_options_default(byref(o))
    o.struct_size = ctypes.sizeof(o)
    keep: List[Any] = []
    if backend is not None:
        o.backend = _encode("backend", backend)
    if context_length is not None:
        o.context_length = _int("context_length", context_length)
    if parallel_slots is not None:
        o.parallel_slots = _int("parallel_slots", parallel_slots)
    if threads is not None:
        o.n_threads = _int("threads", threads)
    if gpu_layers is not None:
        o.gpu_layers = _int("gpu_layers", gpu_layers)
    if model_name is not None:
        o.model_name = _encode("model_name", model_name)
    if api_key is not None:
        o.api_key = _encode("api_key", api_key)
    if timeout is not None:
        o.timeout_ms = _timeout_ms(timeout)
    if precision is not None:
        names = {"exact": 1, "fast": 2}
        if precision not in names:
            raise InvalidArgumentError(f"precision must be 'exact' or 'fast', not {precision!r}")
        o.precision = names[precision]
    if kv_memory is not None:
        o.kv_memory = _int("kv_memory", kv_memory, 0, 2**63 - 1)
    if not prefix_cache:
        o.no_prefix_cache = 1
    if prefill_chunk is not None:
        o.prefill_chunk = _int("prefill_chunk", prefill_chunk)
    if copy_weights:
        o.copy_weights = 1
    if dummy_weights:
        o.dummy_weights = 1
    if dummy_bits is not None:
        o.dummy_bits = _int("dummy_bits", dummy_bits)
    if dummy_group is not None:
        o.dummy_group = _int("dummy_group", dummy_group)
    if dummy_dtype is not None:
        o.dummy_dtype = _encode("dummy_dtype", dummy_dtype)
    raised: List[BaseException] = []
    if progress is not None:
        def on_progress(fraction: float, user: Any) -> None:
            if raised:
                return
            try:
                progress(fraction)
            except BaseException as e:  # re-raised after the load
                raised.append(e)
        cb = _lib.PROGRESS_FN(on_progress)
        keep.append(cb)
        o.progress = cb
    h = c_void_p()
    err = c_void_p()
    rc = lib.inf_model_load(p, byref(o), byref(h), byref(err))
    try:
        msg = take_string(err.value)
        if rc != 0:
            raise error_for(rc, msg)
        if raised:
            raise raised[0]
        return Model(h.value, str(path))
    except BaseException:
        if h.value:
            lib.inf_model_close(byref(h))
        raise


# ------------------------------------------------------------------ model

_SAMPLING_DOC = """
    Sampling options (keyword-only; None leaves the default):
      max_tokens      tokens to generate at most (default 256; 0: until the
                      context is full)
      temperature     0 = greedy;  top_k (0 = off), top_p, min_p (0 = off),
      repeat_penalty  (0 and 1 = off), repeat_last_n (0 = all tokens)
      presence_penalty, frequency_penalty  OpenAI's (-2..2, 0 = off), over
                      the generated tokens only
      logit_bias      {token_id: bias} with bias in [-100, 100], added to
                      the logits before anything else
      seed            None: random; any int in [0, 2**64-1), 0 included, is
                      a fixed seed that reproduces the tokens
      stop            a string or strings that end generation (not emitted)
      stop_ids        token ids that end generation (besides the eos ids)
      ignore_eos      do not stop at the model's eos ids
      logits          each token / result carries its logits (array('f'))
      timeout         seconds until the deadline: DeadlineExceededError
      cancel          a CancelToken (instead of timeout) to cancel from
                      anywhere
    Ranges are the library's (inference.option_bounds()); a value outside
    raises InvalidArgumentError with the library's message.
"""


class Model:
    """A loaded model (inf_model).  Use from any number of threads at once:
    each call gets its own stream, and the library works with the GIL
    released, so threads generate concurrently (up to `parallel_slots`
    sequences are decoded together).  Close it with close() or a `with`
    block; close() is idempotent."""

    def __init__(self, handle: int, path: str) -> None:
        self._h: Optional[int] = handle
        self.path = path
        self._lock = threading.Lock()
        self._users = 0  # open streams and calls in progress
        self._closing = False
        self._streams: "weakref.WeakSet[TokenStream]" = weakref.WeakSet()
        self._tokenizer: Any = None
        self._template: Any = None

    # -- life cycle

    def _enter(self) -> int:
        with self._lock:
            if self._closing or not self._h:
                raise StateError("the model is closed")
            self._users += 1
            return self._h

    def _leave(self) -> None:
        with self._lock:
            self._users -= 1
            if not (self._closing and self._users == 0 and self._h):
                return
            h = c_void_p(self._h)
            self._h = None
        lib.inf_model_close(byref(h))

    def close(self) -> None:
        """Closes the model.  Open streams are closed (a stream that another
        thread is reading is cancelled and closed when that thread sees its
        end); the model itself is freed when the last of them and the calls
        in progress have ended, at once when there are none.  Idempotent."""
        if lib is None:  # interpreter shutdown
            return
        with self._lock:
            if self._closing:
                return
            self._closing = True
            streams = list(self._streams)
        for s in streams:
            s._close_handle(reason=CancelledError("the model was closed"))
        with self._lock:
            if self._users or not self._h:
                return
            h = c_void_p(self._h)
            self._h = None
        lib.inf_model_close(byref(h))

    @property
    def closed(self) -> bool:
        return self._closing

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self._closing else "open"
        return f"<inference.Model {self.path!r} {state}>"

    # -- properties

    @property
    def model_type(self) -> str:
        """The architecture ("llama", "qwen3", "gemma3", ...)."""
        h = self._enter()
        try:
            return lib.inf_model_type(h).decode()
        finally:
            self._leave()

    @property
    def info(self) -> ModelInfo:
        """inf_model_info: backend, vocabulary, layers, context in use,
        weight format and types."""
        # inf_model_info has no struct_size and has grown before: a library
        # newer than this mirror writes more, so give it room.
        buf = ctypes.create_string_buffer(ctypes.sizeof(_lib.inf_model_info) + 4096)
        h = self._enter()
        try:
            rc = lib.inf_model_info_get(h, ctypes.cast(buf, POINTER(_lib.inf_model_info)))
        finally:
            self._leave()
        if rc:
            raise error_for(rc)
        i = _lib.inf_model_info.from_buffer(buf)
        t = lambda b: b.decode("utf-8", "replace")  # noqa: E731
        return ModelInfo(t(i.architecture), t(i.backend), i.vocab_size, i.n_layers,
                         i.hidden_size, i.quant_bits, i.quant_group, i.context_length,
                         i.weight_bytes, t(i.format), t(i.weight_types), i.train_context,
                         t(i.tokenizer_model), t(i.tokenizer_pre), i.chat_template)

    @property
    def metrics(self) -> Metrics:
        """Metrics of the last operation completed on this model (any
        thread)."""
        m = _lib.inf_metrics()
        h = self._enter()
        try:
            rc = lib.inf_model_metrics(h, byref(m))
        finally:
            self._leave()
        if rc:
            raise error_for(rc)
        return Metrics._from_c(m)

    @property
    def tokenizer(self) -> Optional["Tokenizer"]:
        """The model's tokenizer (borrowed: usable while the model is open),
        or None (remote backends)."""
        if self._tokenizer is None:
            from .text import Tokenizer
            h = self._enter()
            try:
                t = lib.inf_model_tokenizer(h)
            finally:
                self._leave()
            if not t:
                return None
            self._tokenizer = Tokenizer._borrowed(t, self)
        return self._tokenizer

    @property
    def chat_template(self) -> Optional["ChatTemplate"]:
        """The chat template chat() renders with (borrowed), or None (remote
        backends, or a template that failed to load: chat() says why)."""
        if self._template is None:
            from .text import ChatTemplate
            h = self._enter()
            try:
                t = lib.inf_model_chat_template(h)
            finally:
                self._leave()
            if not t:
                return None
            self._template = ChatTemplate._borrowed(t, self)
        return self._template

    def generation_defaults(self) -> Dict[str, float]:
        """The sampling the model asks for (generation_config.json with
        do_sample): temperature, top_k, top_p, min_p, repeat_penalty.
        generate(), chat() and batch_generate() start from these."""
        o = self._options_base(True)
        return {"temperature": o.temperature, "top_k": o.top_k, "top_p": o.top_p,
                "min_p": o.min_p, "repeat_penalty": o.repeat_penalty}

    # -- options

    def _options_base(self, model_defaults: bool) -> _lib.inf_generate_options:
        o = _lib.inf_generate_options()
        lib.inf_generate_options_default(byref(o))
        o.struct_size = ctypes.sizeof(o)
        if model_defaults:
            h = self._enter()
            try:
                lib.inf_model_generation_defaults(h, byref(o))
            finally:
                self._leave()
            o.struct_size = ctypes.sizeof(o)
        return o

    def _options(self, model_defaults: bool, max_tokens: Optional[int] = None,
                 temperature: Optional[float] = None, top_k: Optional[int] = None,
                 top_p: Optional[float] = None, min_p: Optional[float] = None,
                 repeat_penalty: Optional[float] = None, repeat_last_n: Optional[int] = None,
                 seed: Optional[int] = None, stop: Union[str, Sequence[str], None] = None,
                 stop_ids: Optional[Sequence[int]] = None, ignore_eos: bool = False,
                 logits: bool = False, timeout: Optional[float] = None,
                 cancel: Optional[CancelToken] = None,
                 presence_penalty: Optional[float] = None,
                 frequency_penalty: Optional[float] = None,
                 logit_bias: Optional[Mapping[int, float]] = None,
                 ) -> Tuple[_lib.inf_generate_options, List[Any], CancelToken]:
        o = self._options_base(model_defaults)
        keep: List[Any] = []
        if max_tokens is not None:
            o.max_tokens = _bounded_int("max_tokens", max_tokens)
        if temperature is not None:
            o.temperature = _float("temperature", temperature)
        if top_k is not None:
            o.top_k = _bounded_int("top_k", top_k)
        if top_p is not None:
            o.top_p = _float("top_p", top_p)
        if min_p is not None:
            o.min_p = _float("min_p", min_p)
        if repeat_penalty is not None:
            o.repeat_penalty = _float("repeat_penalty", repeat_penalty)
        if repeat_last_n is not None:
            o.repeat_last_n = _bounded_int("repeat_last_n", repeat_last_n)
        if seed is not None:
            o.seed = _int("seed", seed, 0, INF_SEED_RANDOM)
        if stop is not None:
            strs = [stop] if isinstance(stop, str) else list(stop)
            arr = (c_char_p * len(strs))(*[_encode("stop", s) for s in strs])
            keep.append(arr)
            o.stop_strings = ctypes.cast(arr, POINTER(c_char_p))
            o.n_stop_strings = len(strs)
        if stop_ids is not None:
            a = _ids("stop_ids", stop_ids)
            keep.append(a)
            if len(a):
                o.stop_ids = ctypes.cast(_ids_ptr(a), POINTER(c_int32))
                o.n_stop_ids = len(a)
        if presence_penalty is not None:
            o.presence_penalty = _float("presence_penalty", presence_penalty)
        if frequency_penalty is not None:
            o.frequency_penalty = _float("frequency_penalty", frequency_penalty)
        if logit_bias:
            items = list(dict(logit_bias).items())
            ids = _ids("logit_bias", [k for k, _ in items])
            vals = (c_float * len(items))(*[_float("logit_bias", v) for _, v in items])
            keep.extend([ids, vals])
            o.logit_bias_ids = ctypes.cast(_ids_ptr(ids), POINTER(c_int32))
            o.logit_bias_values = ctypes.cast(vals, POINTER(c_float))
            o.n_logit_bias = len(items)
        o.ignore_eos = 1 if ignore_eos else 0
        o.return_logits = 1 if logits else 0
        if cancel is not None:
            if timeout is not None:
                raise InvalidArgumentError("give timeout or cancel, not both (set the "
                                           "timeout on the CancelToken)")
            if not isinstance(cancel, CancelToken):
                raise TypeError("cancel must be an inference.CancelToken")
            tok = cancel
        else:
            tok = CancelToken()
            if timeout is not None:
                lib.inf_cancel_set_timeout(tok._c, _timeout_ms(timeout))
        o.cancel = tok._c
        return o, keep, tok

    # -- Generate / Chat

    def generate(self, prompt: Prompt, *, max_tokens: Optional[int] = None,
                 temperature: Optional[float] = None, top_k: Optional[int] = None,
                 top_p: Optional[float] = None, min_p: Optional[float] = None,
                 repeat_penalty: Optional[float] = None, repeat_last_n: Optional[int] = None,
                 seed: Optional[int] = None, stop: Union[str, Sequence[str], None] = None,
                 stop_ids: Optional[Sequence[int]] = None, ignore_eos: bool = False,
                 logits: bool = False, timeout: Optional[float] = None,
                 cancel: Optional[CancelToken] = None,
                 presence_penalty: Optional[float] = None,
                 frequency_penalty: Optional[float] = None,
                 logit_bias: Optional[Mapping[int, float]] = None) -> "TokenStream":
        """Starts generating the continuation of `prompt` (raw text, BOS added
        where the tokenizer adds it; or a sequence of token ids, used
        exactly) and returns a TokenStream: iterate it for Token(id, text);
        after the end, `.finish_reason` and `.metrics`.  Sampling starts from
        the model's generation defaults (greedy for most models).
        Failures raise InferenceError subclasses: at once for a bad call,
        from the iteration for a failure on the way (CancelledError,
        DeadlineExceededError, ...)."""
        o, keep, tok = self._options(True, max_tokens, temperature, top_k, top_p, min_p,
                                     repeat_penalty, repeat_last_n, seed, stop, stop_ids,
                                     ignore_eos, logits, timeout, cancel,
                                     presence_penalty=presence_penalty,
                                     frequency_penalty=frequency_penalty,
                                     logit_bias=logit_bias)
        if isinstance(prompt, str):
            p = _encode("prompt", prompt)
        else:
            a = _ids("prompt", prompt)
            keep.append(a)
            p = b""
            if len(a):
                o.prompt_ids = ctypes.cast(_ids_ptr(a), POINTER(c_int32))
                o.n_prompt_ids = len(a)
        return self._start(lambda h, out: lib.inf_generate(h, p, byref(o), out), tok,
                           logits)

    generate.__doc__ = (generate.__doc__ or "") + _SAMPLING_DOC

    def chat(self, messages: Sequence[MessageLike], tools: Optional[Sequence[Any]] = None, *,
             template: Optional[str] = None, template_vars: Optional[Mapping[str, Any]] = None,
             add_generation_prompt: bool = True, max_tokens: Optional[int] = None,
             temperature: Optional[float] = None, top_k: Optional[int] = None,
             top_p: Optional[float] = None, min_p: Optional[float] = None,
             repeat_penalty: Optional[float] = None, repeat_last_n: Optional[int] = None,
             seed: Optional[int] = None, stop: Union[str, Sequence[str], None] = None,
             stop_ids: Optional[Sequence[int]] = None, ignore_eos: bool = False,
             logits: bool = False, timeout: Optional[float] = None,
             cancel: Optional[CancelToken] = None,
                 presence_penalty: Optional[float] = None,
                 frequency_penalty: Optional[float] = None,
                 logit_bias: Optional[Mapping[int, float]] = None) -> "TokenStream":
        """Renders `messages` (dicts {"role", "content"} or Message) with the
        model's chat template (or `template`, Jinja source) and generates the
        reply; returns a TokenStream as generate() does.

        tools: a list of tool definitions (JSON-able) handed to the template
        as `tools`.  template_vars: extra template variables, e.g.
        {"enable_thinking": False}.  Messages with fields beyond role and a
        string content (tool_calls, tool_call_id, name, ...) are rendered
        through the template's JSON interface (inf_chat_template_apply) and
        tokenised as inf_chat does (no added BOS when the text starts with
        it); that needs a local template (not remote backends)."""
        msgs = [_message_dict(m) for m in messages]
        o, keep, tok = self._options(True, max_tokens, temperature, top_k, top_p, min_p,
                                     repeat_penalty, repeat_last_n, seed, stop, stop_ids,
                                     ignore_eos, logits, timeout, cancel,
                                     presence_penalty=presence_penalty,
                                     frequency_penalty=frequency_penalty,
                                     logit_bias=logit_bias)
        o.add_generation_prompt = 1 if add_generation_prompt else 0
        tools_json = json.dumps(list(tools)).encode() if tools is not None else None
        vars_json = json.dumps(dict(template_vars)).encode() if template_vars else None
        if template is not None:
            o.chat_template = _encode("template", template)
        o.tools_json = tools_json
        o.template_vars_json = vars_json
        simple = all(set(m) <= {"role", "content"} and isinstance(m.get("content"), str)
                     for m in msgs)
        if simple:
            arr = (_lib.inf_message * len(msgs))()
            for i, m in enumerate(msgs):
                arr[i].role = _encode("role", m.get("role", ""))
                arr[i].content = _encode("content", m["content"])
            keep.append(arr)
            n = len(msgs)
            return self._start(lambda h, out: lib.inf_chat(h, arr, n, byref(o), out), tok,
                               logits)
        # Fields inf_message cannot carry: render here, then generate from ids.
        text = self._render_json(msgs, template, add_generation_prompt, tools_json,
                                 vars_json)
        t = self.tokenizer
        if t is None:
            raise UnsupportedError("messages with fields other than role and content "
                                   "need the model's own tokenizer and chat template")
        bos = t.bos_id
        starts_with_bos = bos is not None and text.startswith(t.piece(bos) or "\0")
        a = _ids("prompt", t.encode(text, add_special=not starts_with_bos))
        keep.append(a)
        o.prompt_ids = ctypes.cast(_ids_ptr(a), POINTER(c_int32))
        o.n_prompt_ids = len(a)
        return self._start(lambda h, out: lib.inf_generate(h, b"", byref(o), out), tok,
                           logits)

    chat.__doc__ = (chat.__doc__ or "") + _SAMPLING_DOC

    def _render_json(self, msgs: List[Dict[str, Any]], template: Optional[str],
                     add_generation_prompt: bool, tools_json: Optional[bytes],
                     vars_json: Optional[bytes]) -> str:
        from .text import ChatTemplate
        if template is not None:
            tmpl = ChatTemplate.parse(template, self.path)
        else:
            tmpl = self.chat_template
            if tmpl is None:
                raise UnsupportedError("this model has no chat template of its own "
                                       "(remote backends render on the server), so "
                                       "messages can carry only role and content")
        return tmpl._apply_json(json.dumps(msgs).encode(), add_generation_prompt,
                                tools_json, vars_json)

    def _start(self, call: Callable[[int, Any], int], tok: CancelToken,
               logits: bool) -> "TokenStream":
        h = self._enter()
        s = c_void_p()
        try:
            rc = call(h, byref(s))
            if rc != 0:
                # The calling thread's message, read right after the failure.
                raise error_for(rc, lib.inf_model_errmsg(h).decode("utf-8", "replace"))
            stream = TokenStream(self, s.value, tok, logits)
        except BaseException:
            if s.value:
                lib.inf_stream_close(byref(s))
            self._leave()
            raise
        with self._lock:
            self._streams.add(stream)
        return stream

    # -- Classify / BatchGenerate / logits

    def classify(self, prompts: Sequence[str], logits: bool = False, *,
                 errors: str = "raise", temperature: Optional[float] = None,
                 top_k: Optional[int] = None, top_p: Optional[float] = None,
                 min_p: Optional[float] = None, seed: Optional[int] = None,
                 timeout: Optional[float] = None,
                 cancel: Optional[CancelToken] = None,
                 presence_penalty: Optional[float] = None,
                 frequency_penalty: Optional[float] = None,
                 logit_bias: Optional[Mapping[int, float]] = None) -> List[Classification]:
        """The next token of each prompt, all prompts in one batched prefill
        (inf_classify): greedy unless temperature > 0 (the model's
        generation defaults are not applied: labelling wants the argmax).
        logits=True: each result carries the vocabulary-sized logits as
        array('f').  A prompt that fails on its own raises its error
        (errors="raise", the default; `.index` says which) or is returned
        with `.error` set (errors="return")."""
        if errors not in ("raise", "return"):
            raise ValueError('errors must be "raise" or "return"')
        o, keep, tok = self._options(False, None, temperature, top_k, top_p, min_p, None,
                                     None, seed, None, None, False, logits, timeout, cancel,
                                     presence_penalty=presence_penalty,
                                     frequency_penalty=frequency_penalty,
                                     logit_bias=logit_bias)
        arr, n = self._prompt_array(prompts, keep)
        out = POINTER(_lib.inf_classify_result)()
        results: List[Classification] = []
        failed: Optional[InferenceError] = None
        with _Call(self, tok) as h:
            try:
                rc = lib.inf_classify(h, arr, n, byref(o), byref(out))
                if rc != 0:
                    raise error_for(rc, lib.inf_model_errmsg(h).decode("utf-8", "replace"))
                for i in range(n):
                    r = out[i]
                    if r.status != 0:
                        e = error_for(r.status, _lib.cstr(ctypes.string_at(r.error)
                                                          if r.error else b""))
                        e.index = i  # type: ignore[attr-defined]
                        failed = failed or e
                        results.append(Classification(-1, "", None, e))
                        continue
                    lg = float_array(r.logits, r.n_logits) if r.logits else None
                    text = ctypes.string_at(r.text).decode("utf-8", "replace") if r.text else ""
                    results.append(Classification(r.token_id, text, lg))
            finally:
                if out:
                    lib.inf_classify_results_free(out, n)
        if failed is not None and errors == "raise":
            raise failed
        return results

    def batch_generate(self, prompts: Sequence[str], *, errors: str = "raise",
                       max_tokens: Optional[int] = None, temperature: Optional[float] = None,
                       top_k: Optional[int] = None, top_p: Optional[float] = None,
                       min_p: Optional[float] = None, repeat_penalty: Optional[float] = None,
                       repeat_last_n: Optional[int] = None, seed: Optional[int] = None,
                       stop: Union[str, Sequence[str], None] = None,
                       stop_ids: Optional[Sequence[int]] = None, ignore_eos: bool = False,
                       timeout: Optional[float] = None,
                       cancel: Optional[CancelToken] = None,
                 presence_penalty: Optional[float] = None,
                 frequency_penalty: Optional[float] = None,
                 logit_bias: Optional[Mapping[int, float]] = None) -> List[BatchResult]:
        """Generates from all `prompts` together (inf_batch_generate: the
        sequences are decoded in one batch) and returns one BatchResult per
        prompt, in order.  Sampling starts from the model's generation
        defaults.  Per-prompt failures: as for classify()."""
        if errors not in ("raise", "return"):
            raise ValueError('errors must be "raise" or "return"')
        o, keep, tok = self._options(True, max_tokens, temperature, top_k, top_p, min_p,
                                     repeat_penalty, repeat_last_n, seed, stop, stop_ids,
                                     ignore_eos, False, timeout, cancel,
                                     presence_penalty=presence_penalty,
                                     frequency_penalty=frequency_penalty,
                                     logit_bias=logit_bias)
        arr, n = self._prompt_array(prompts, keep)
        out = POINTER(_lib.inf_batch_result)()
        results: List[BatchResult] = []
        failed: Optional[InferenceError] = None
        with _Call(self, tok) as h:
            try:
                rc = lib.inf_batch_generate(h, arr, n, byref(o), byref(out))
                if rc != 0:
                    raise error_for(rc, lib.inf_model_errmsg(h).decode("utf-8", "replace"))
                for i in range(n):
                    r = out[i]
                    met = Metrics._from_c(r.metrics)
                    if r.status != 0:
                        e = error_for(r.status, _lib.cstr(ctypes.string_at(r.error)
                                                          if r.error else b""))
                        e.index = i  # type: ignore[attr-defined]
                        failed = failed or e
                        results.append(BatchResult("", [], None, met, e))
                        continue
                    ids = r.token_ids[:r.n_tokens] if r.n_tokens else []
                    text = ctypes.string_at(r.text).decode("utf-8", "replace") if r.text else ""
                    results.append(BatchResult(text, ids, finish_reason_name(r.finish_reason),
                                               met))
            finally:
                if out:
                    lib.inf_batch_results_free(out, n)
        if failed is not None and errors == "raise":
            raise failed
        return results

    batch_generate.__doc__ = (batch_generate.__doc__ or "") + _SAMPLING_DOC

    @staticmethod
    def _prompt_array(prompts: Sequence[str], keep: List[Any]) -> Tuple[Any, int]:
        if isinstance(prompts, str):
            raise TypeError("prompts must be a sequence of str, not one str")
        bs = [_encode("prompt", p) for p in prompts]
        arr = (c_char_p * max(1, len(bs)))(*bs)
        keep.append(arr)
        return arr, len(bs)

    def logits(self, ids: Sequence[int]) -> memoryview:
        """The logits at every position of the token ids (a fresh sequence, no
        BOS added; inf_model_logits): a float32 memoryview of shape
        (len(ids), vocab).  numpy.asarray() of it is an (n, vocab) array."""
        a = _ids("ids", ids)
        out = POINTER(ctypes.c_float)()
        vocab = c_int32()
        err = c_void_p()
        h = self._enter()
        try:
            rc = lib.inf_model_logits(h, _ids_ptr(a), len(a), byref(out), byref(vocab),
                                      byref(err))
        finally:
            self._leave()
        msg = take_string(err.value)
        try:
            if rc != 0:
                raise error_for(rc, msg)
            flat = float_array(out, len(a) * vocab.value)
        finally:
            if out:
                lib.inf_free(out)
        return memoryview(flat).cast("B").cast("f", (len(a), vocab.value))


def _message_dict(m: MessageLike) -> Dict[str, Any]:
    if isinstance(m, Message):
        return m.to_dict()
    if isinstance(m, Mapping):
        if "role" not in m:
            raise InvalidArgumentError("a message needs a role")
        return dict(m)
    raise TypeError(f"a message must be a dict or inference.Message, not {type(m).__name__}")


class _Call:
    """A synchronous model call: holds the model open, and on the main
    thread lets Ctrl-C cancel the call through its token."""

    def __init__(self, model: Model, tok: CancelToken) -> None:
        self.model, self.tok, self.watched = model, tok, False

    def __enter__(self) -> int:
        h = self.model._enter()
        self.watched = _sigint.watch(self.tok._c)
        return h

    def __exit__(self, *exc: Any) -> None:
        if self.watched:
            _sigint.unwatch(self.tok._c)
        self.model._leave()


# ----------------------------------------------------------------- stream

class TokenStream(Iterator[Token]):
    """The tokens of one Generate or Chat call, pulled as they are produced.

    Iterate it (it is its own iterator) for Token(id, text).  When it ends,
    `finish_reason` is "eos", "stop" or "length" and `metrics` holds the
    stream's Metrics; a failure raises from the iteration (CancelledError,
    DeadlineExceededError, ...) and is kept in `error`.  The stream closes
    itself at its end; close() (or a `with` block) ends it early.  Read it
    from one thread; cancel() may be called from any thread.  Ctrl-C while
    the main thread reads it cancels it in the library and raises
    KeyboardInterrupt."""

    def __init__(self, model: Model, handle: int, cancel: CancelToken, logits: bool) -> None:
        self._model = model
        self._h: Optional[int] = handle
        self._cancel_token = cancel  # must outlive the stream in the library
        self._logits = logits
        self._tok = _lib.inf_token()
        self._tokp = byref(self._tok)
        self._lock = threading.Lock()
        self._busy = False
        self._close_pending = False
        self._pending_error: Optional[InferenceError] = None
        self._close_reason: Optional[InferenceError] = None
        self._watched = False
        self._first = True
        self._reader: Optional[int] = None  # the thread reading it
        self._metrics: Optional[Metrics] = None
        self.finish_reason: Optional[str] = None
        """"eos", "stop" or "length" after a normal end; None before and
        after a failure or close()."""
        self.error: Optional[InferenceError] = None
        """The failure that ended the stream (also raised), else None."""

    def __iter__(self) -> "TokenStream":
        return self

    def __next__(self) -> Token:
        with self._lock:
            h = self._h
            if h is None:
                e, self._pending_error = self._pending_error, None
                if e is not None:  # closed by Model.close() between two tokens
                    self.error = e
                    raise e
                raise StopIteration
            self._busy = True
        try:
            if self._first:
                self._first = False
                self._reader = threading.get_ident()
                self._watched = _sigint.watch(self._cancel_token._c)
            rc = lib.inf_stream_next(h, self._tokp)
            if rc == 1:
                t = self._tok
                text = ctypes.string_at(t.text, t.text_len).decode() if t.text_len else ""
                if self._logits and t.logits:
                    return Token(t.id, text, float_array(t.logits, t.n_logits))
                return Token(t.id, text)
            self._end(h, rc)
        except BaseException:
            self._abort()
            raise
        finally:
            with self._lock:
                self._busy = False
                pending = self._close_pending
            if pending:  # closed by another thread meanwhile
                self._close_handle(reason=self._close_reason)
        raise StopIteration  # not reached: _end raises

    def _end(self, h: int, rc: int) -> None:
        err = lib.inf_stream_err(h) if rc == 0 else rc
        msg = lib.inf_stream_errmsg(h)
        self.finish_reason = finish_reason_name(lib.inf_stream_finish_reason(h))
        m = _lib.inf_metrics()
        lib.inf_stream_metrics(h, byref(m))
        self._metrics = Metrics._from_c(m)
        self._close_handle(from_reader=True)
        if err != 0:
            self.finish_reason = None
            self.error = error_for(err, msg.decode("utf-8", "replace") if msg else "")
            raise self.error
        raise StopIteration

    def _abort(self) -> None:
        """An exception (KeyboardInterrupt) inside __next__: end the stream."""
        with self._lock:
            if self._h is None:
                return
        if self.error is None:
            self.error = CancelledError("interrupted")
        self._close_handle(from_reader=True)

    def _close_handle(self, from_reader: bool = False,
                      reason: Optional[InferenceError] = None) -> None:
        """Closes the library stream.  Called by another thread while the
        reader waits in inf_stream_next: cancels it instead (the reader then
        sees E_CANCELLED and closes it).  `reason`: what the reader's next
        __next__ raises when the stream is closed between two tokens."""
        with self._lock:
            h = self._h
            if h is None:
                return
            if reason is None and not from_reader and self._reader not in (
                    None, threading.get_ident()):
                reason = CancelledError()  # another thread closed it
            if self._busy and not from_reader:
                lib.inf_stream_cancel(h)
                self._close_pending = True
                self._close_reason = reason or CancelledError()
                return
            self._h = None
            self._pending_error = reason
        if self._metrics is None:
            m = _lib.inf_metrics()
            lib.inf_stream_metrics(h, byref(m))
            self._metrics = Metrics._from_c(m)
        hp = c_void_p(h)
        lib.inf_stream_close(byref(hp))
        if self._watched:
            _sigint.unwatch(self._cancel_token._c)
            self._watched = False
        model = self._model
        with model._lock:
            model._streams.discard(self)
        model._leave()

    @property
    def metrics(self) -> Metrics:
        """The stream's Metrics so far (final once it ended)."""
        with self._lock:
            h = None if self._busy else self._h
            if h is not None:
                m = _lib.inf_metrics()
                lib.inf_stream_metrics(h, byref(m))
                return Metrics._from_c(m)
        return self._metrics or Metrics()

    @property
    def done(self) -> bool:
        """True once the stream has ended or was closed."""
        return self._h is None

    def cancel(self) -> None:
        """Asks the stream to stop (any thread): it ends within one decode
        step and its iteration raises CancelledError."""
        with self._lock:
            if self._h is not None:
                lib.inf_stream_cancel(self._h)

    def close(self) -> None:
        """Ends the stream now (cancelling it if still running) and frees it.
        From another thread while it is being read: cancels it; the reading
        thread's iteration then raises CancelledError and frees it.
        Idempotent."""
        if lib is None:
            return
        self._close_handle()

    def read(self) -> str:
        """Consumes the rest of the stream and returns its text."""
        return "".join(t.text for t in self)

    def __enter__(self) -> "TokenStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


from .text import ChatTemplate, Tokenizer  # noqa: E402  (for the annotations)
