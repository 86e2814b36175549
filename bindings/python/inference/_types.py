"""The plain data the API hands out: tokens, metrics, results, info."""
from __future__ import annotations

import ctypes
from array import array
from dataclasses import dataclass, field
from typing import Any, Dict, List, NamedTuple, Optional

from . import _lib
from ._lib import lib
from .errors import InferenceError

__all__ = ["Token", "Message", "Metrics", "ModelInfo", "Classification", "BatchResult",
           "Backend", "Discovered", "OptionBound"]


class Token(NamedTuple):
    """One generated token: its id and its text (whole UTF-8 characters:
    the bytes of a character split across tokens come with the later one,
    so `text` may be "").  `logits`: the vocabulary-sized float32 logits
    when the call asked for them (`logits=True`), else None."""
    id: int
    text: str
    logits: Optional[array] = None


@dataclass
class Message:
    """A chat message.  role: "system", "user", "assistant" or "tool".
    Fields left None are not sent; `extra` holds any other fields the chat
    template reads (they make chat() render through the template itself;
    see Model.chat)."""
    role: str
    content: Optional[str] = None
    name: Optional[str] = None
    tool_calls: Optional[List[Dict[str, Any]]] = None
    tool_call_id: Optional[str] = None
    reasoning_content: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"role": self.role}
        for k in ("content", "name", "tool_calls", "tool_call_id", "reasoning_content"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        d.update(self.extra)
        return d


@dataclass(frozen=True)
class Metrics:
    """inf_metrics: counts, times and rates of an operation (a stream, or
    the model's last completed operation)."""
    prompt_tokens: int = 0
    generated_tokens: int = 0
    prefill_seconds: float = 0.0
    decode_seconds: float = 0.0
    total_seconds: float = 0.0
    prefill_tokens_per_second: float = 0.0
    decode_tokens_per_second: float = 0.0
    peak_memory_bytes: int = 0
    active_memory_bytes: int = 0

    @classmethod
    def _from_c(cls, m: _lib.inf_metrics) -> "Metrics":
        return cls(m.prompt_tokens, m.generated_tokens, m.prefill_seconds,
                   m.decode_seconds, m.total_seconds, m.prefill_tokens_per_second,
                   m.decode_tokens_per_second, m.peak_memory_bytes, m.active_memory_bytes)


@dataclass(frozen=True)
class ModelInfo:
    """inf_model_info: what runs the model and its shape."""
    architecture: str
    backend: str
    vocab_size: int
    n_layers: int
    hidden_size: int
    quant_bits: int
    quant_group: int
    context_length: int
    weight_bytes: int
    format: str = ""
    """"safetensors" or "gguf" ("" where the backend does not say)."""
    weight_types: str = ""
    """GGUF: the tensors' ggml types by count ("Q4_K 145, Q6_K 24, ...");
    safetensors: the dtype ("bfloat16", "mlx 4-bit group 64")."""
    train_context: int = 0
    """The context the model was trained for; 0 when unknown."""
    tokenizer_model: str = ""
    tokenizer_pre: str = ""
    chat_template: int = 0
    """GGUF: 1 when the file carries a chat template, else 0; safetensors: -1."""


@dataclass(frozen=True)
class Classification:
    """One prompt's result of Model.classify: the next token, and its
    vocabulary-sized float32 logits when asked for (`logits=True`; an
    `array('f')`, `numpy.frombuffer(r.logits, numpy.float32)` for numpy).
    `error` is the prompt's own failure when classify(errors="return")."""
    token_id: int
    text: str
    logits: Optional[array] = None
    error: Optional[InferenceError] = None


@dataclass(frozen=True)
class BatchResult:
    """One prompt's result of Model.batch_generate."""
    text: str
    token_ids: List[int]
    finish_reason: Optional[str]
    metrics: Metrics
    error: Optional[InferenceError] = None


@dataclass(frozen=True)
class Backend:
    """A registered backend; `reason` says why it is not available here."""
    name: str
    description: str
    available: bool
    reason: str


@dataclass(frozen=True)
class Discovered:
    """A model found by inference.discover(): a model directory or a GGUF
    file."""
    path: str
    model_type: str
    quant_bits: int
    quant_group: int
    n_safetensors: int
    format: str = ""
    """"safetensors" (a model directory) or "gguf" (a GGUF file: `path` is
    the file, the first part of a split set)."""
    weight_types: str = ""
    n_files: int = 0


@dataclass(frozen=True)
class OptionBound:
    """The accepted range of a numeric generation option (inclusive)."""
    field: str
    min: float
    max: float
    is_integer: bool


def finish_reason_name(r: int) -> Optional[str]:
    """"eos", "stop", "length", or None for INF_FINISH_NONE."""
    if r == 0:
        return None
    return lib.inf_finish_reason_name(r).decode()


def float_array(ptr: Any, n: int) -> array:
    """A copy of n floats at ptr as array('f')."""
    a = array("f", [0.0]) * n
    if n:
        ctypes.memmove(a.buffer_info()[0], ptr, n * 4)
    return a
