"""Tokenizers and chat templates, with or without a model."""
from __future__ import annotations

import ctypes
import json
from ctypes import byref, c_int32, c_size_t, c_void_p, POINTER
from typing import Any, List, Mapping, Optional, Sequence, Union

from . import _lib
from ._lib import lib, take_string
from ._types import Message
from .errors import StateError, error_for

__all__ = ["Tokenizer", "ChatTemplate", "render_chat_template"]


def _b(name: str, s: Optional[str]) -> Optional[bytes]:
    if s is None:
        return None
    if not isinstance(s, str):
        raise TypeError(f"{name} must be a str, not {type(s).__name__}")
    return s.encode("utf-8")


class _Handle:
    """A library handle that is either owned (freed by close()) or borrowed
    from a model (usable while the model is open)."""

    _free: Any = None

    def __init__(self, h: int, owner: Any = None) -> None:
        self._h: Optional[int] = h
        self._owner = owner  # the Model lending it, or None when owned

    @classmethod
    def _borrowed(cls, h: int, owner: Any) -> Any:
        return cls(h, owner)

    def _use(self) -> int:
        if self._owner is not None:
            return self._owner._enter()
        if not self._h:
            raise StateError(f"the {type(self).__name__} is closed")
        return self._h

    def _done(self) -> None:
        if self._owner is not None:
            self._owner._leave()

    def close(self) -> None:
        """Frees an owned handle (a borrowed one belongs to its model).
        Idempotent."""
        if self._owner is not None:
            return
        h, self._h = self._h, None
        if h and self._owner is None and lib is not None:
            type(self)._free(h)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class Tokenizer(_Handle):
    """A tokenizer.json tokenizer (inf_tokenizer): Tokenizer.load(dir), or a
    model's own (Model.tokenizer).  Thread-safe for reading."""

    _free = staticmethod(lambda h: lib.inf_tokenizer_free(h))

    @classmethod
    def load(cls, model_dir: str) -> "Tokenizer":
        """Loads tokenizer.json (+ tokenizer_config.json) from a directory,
        or the tokenizer of a GGUF file (its metadata; the weights unread)."""
        h = c_void_p()
        err = c_void_p()
        rc = lib.inf_tokenizer_load(_b("model_dir", str(model_dir)), byref(h), byref(err))
        msg = take_string(err.value)
        if rc != 0:
            raise error_for(rc, msg)
        return cls(h.value)

    def encode(self, text: str, add_special: bool = True) -> List[int]:
        """Token ids of `text`; add_special: add what the post-processor adds
        (BOS for Llama-style tokenizers)."""
        b = _b("text", text) or b""
        ids = POINTER(c_int32)()
        n = c_size_t()
        err = c_void_p()
        self._use()
        try:
            rc = lib.inf_tokenize(self._h, b, len(b), 1 if add_special else 0, byref(ids),
                                  byref(n), byref(err))
        finally:
            self._done()
        msg = take_string(err.value)
        try:
            if rc != 0:
                raise error_for(rc, msg)
            return ids[:n.value] if n.value else []
        finally:
            if ids:
                lib.inf_free(ids)

    def decode(self, ids: Sequence[int], skip_special: bool = True) -> str:
        """The text of token ids; skip_special: leave special tokens out."""
        from .model import _ids, _ids_ptr
        a = _ids("ids", ids)
        out = c_void_p()
        n = c_size_t()
        err = c_void_p()
        self._use()
        try:
            rc = lib.inf_detokenize(self._h, _ids_ptr(a), len(a), 1 if skip_special else 0,
                                    byref(out), byref(n), byref(err))
        finally:
            self._done()
        msg = take_string(err.value)
        try:
            if rc != 0:
                raise error_for(rc, msg)
            return ctypes.string_at(out.value, n.value).decode("utf-8", "replace") \
                if out.value else ""
        finally:
            if out.value:
                lib.inf_free(out.value)

    def _int_query(self, f: Any, *args: Any) -> Any:
        self._use()
        try:
            return f(self._h, *args)
        finally:
            self._done()

    @property
    def vocab_size(self) -> int:
        return self._int_query(lib.inf_tokenizer_vocab_size)

    def piece(self, id: int) -> Optional[str]:
        """The raw vocabulary string of `id` ("▁the", "<0x0A>"), or None."""
        p = self._int_query(lib.inf_tokenizer_piece, id)
        return p.decode("utf-8", "replace") if p is not None else None

    def is_special(self, id: int) -> bool:
        return bool(self._int_query(lib.inf_tokenizer_is_special, id))

    @property
    def bos_id(self) -> Optional[int]:
        v = self._int_query(lib.inf_tokenizer_bos_id)
        return None if v < 0 else v

    @property
    def eos_id(self) -> Optional[int]:
        v = self._int_query(lib.inf_tokenizer_eos_id)
        return None if v < 0 else v


def _messages_json(messages: Sequence[Union[Mapping[str, Any], Message]]) -> bytes:
    out = []
    for m in messages:
        out.append(m.to_dict() if isinstance(m, Message) else dict(m))
    return json.dumps(out).encode()


class ChatTemplate(_Handle):
    """A parsed Jinja chat template (inf_chat_template), as transformers'
    apply_chat_template renders it.  ChatTemplate.load(dir),
    ChatTemplate.parse(source), or a model's own (Model.chat_template).
    Rendering only reads it: any number of threads may share one."""

    _free = staticmethod(lambda h: lib.inf_chat_template_free(h))

    @classmethod
    def load(cls, model_dir: str) -> "ChatTemplate":
        """The template of a model directory (tokenizer_config.json, else
        chat_template.jinja, else ChatML: then `is_fallback`)."""
        h = c_void_p()
        err = c_void_p()
        rc = lib.inf_chat_template_load(_b("model_dir", str(model_dir)), byref(h), byref(err))
        msg = take_string(err.value)
        if rc != 0:
            raise error_for(rc, msg)
        return cls(h.value)

    @classmethod
    def parse(cls, source: str, model_dir: Optional[str] = None,
              special_tokens: Optional[Mapping[str, Any]] = None) -> "ChatTemplate":
        """Parses template source.  model_dir supplies its
        tokenizer_config.json special tokens; special_tokens adds variables
        such as {"bos_token": "<s>"}."""
        h = c_void_p()
        err = c_void_p()
        st = json.dumps(dict(special_tokens)).encode() if special_tokens else None
        md = _b("model_dir", str(model_dir)) if model_dir is not None else None
        rc = lib.inf_chat_template_parse(_b("source", source), md, st, byref(h), byref(err))
        msg = take_string(err.value)
        if rc != 0:
            raise error_for(rc, msg)
        return cls(h.value)

    @property
    def source(self) -> str:
        self._use()
        try:
            return _lib.cstr(lib.inf_chat_template_source(self._h))
        finally:
            self._done()

    @property
    def is_fallback(self) -> bool:
        """True for the ChatML fallback of a model without a template."""
        self._use()
        try:
            return bool(lib.inf_chat_template_is_fallback(self._h))
        finally:
            self._done()

    def apply(self, messages: Sequence[Union[Mapping[str, Any], Message]],
              add_generation_prompt: bool = True, tools: Optional[Sequence[Any]] = None,
              variables: Optional[Mapping[str, Any]] = None) -> str:
        """Renders messages (dicts or Message; every field reaches the
        template).  tools: tool definitions; variables: extra template
        variables.  A template error raises TemplateError with the
        template's own message."""
        tj = json.dumps(list(tools)).encode() if tools is not None else None
        vj = json.dumps(dict(variables)).encode() if variables else None
        return self._apply_json(_messages_json(messages), add_generation_prompt, tj, vj)

    def _apply_json(self, messages_json: bytes, add_generation_prompt: bool,
                    tools_json: Optional[bytes], vars_json: Optional[bytes]) -> str:
        out = c_void_p()
        err = c_void_p()
        self._use()
        try:
            rc = lib.inf_chat_template_apply(self._h, messages_json,
                                             1 if add_generation_prompt else 0, tools_json,
                                             vars_json, byref(out), byref(err))
        finally:
            self._done()
        msg = take_string(err.value)
        text = take_string(out.value)
        if rc != 0:
            raise error_for(rc, msg)
        return text


def render_chat_template(model_dir: str, messages: Sequence[Union[Mapping[str, Any], Message]],
                         template: Optional[str] = None, add_generation_prompt: bool = True,
                         tools: Optional[Sequence[Any]] = None,
                         variables: Optional[Mapping[str, Any]] = None) -> str:
    """Renders role/content messages with a model directory's chat template
    (or `template`, Jinja source) in one call (inf_chat_template_render)."""
    msgs = [m.to_dict() if isinstance(m, Message) else dict(m) for m in messages]
    arr = (_lib.inf_message * max(1, len(msgs)))()
    keep = []
    for i, m in enumerate(msgs):
        r, c = _b("role", m.get("role", "")), _b("content", m.get("content") or "")
        keep += [r, c]
        arr[i].role, arr[i].content = r, c
    tj = json.dumps(list(tools)).encode() if tools is not None else None
    vj = json.dumps(dict(variables)).encode() if variables else None
    out = c_void_p()
    err = c_void_p()
    rc = lib.inf_chat_template_render(_b("model_dir", str(model_dir)), _b("template", template),
                                      arr, len(msgs), 1 if add_generation_prompt else 0, tj,
                                      vj, byref(out), byref(err))
    msg = take_string(err.value)
    text = take_string(out.value)
    if rc != 0:
        raise error_for(rc, msg)
    return text
