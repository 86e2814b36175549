#!/usr/bin/env python3
"""convert_hf.py — converts a Hugging Face Llama model directory
(config.json, *.safetensors, tokenizer.json of the SentencePiece-style BPE
kind Llama 2 uses) into a GGUF file that llama.cpp loads.

    /usr/bin/python3 scripts/gguf/convert_hf.py models/brown-llama-8m out.gguf
        [--type F16|F32|Q8_0|Q4_0]

Mapping (llama.cpp's "llama" architecture):
  model.embed_tokens          -> token_embd
  model.layers.N.input_layernorm / post_attention_layernorm
                              -> blk.N.attn_norm / blk.N.ffn_norm
  self_attn.{q,k,v,o}_proj    -> blk.N.attn_{q,k,v,output}
  mlp.{gate,up,down}_proj     -> blk.N.ffn_{gate,up,down}
  model.norm, lm_head         -> output_norm, output (absent when tied)
q_proj and k_proj rows are reordered: Hugging Face keeps each head's rotary
pairs as (first half, second half) ("rotate_half"), GGUF/llama.cpp as
adjacent pairs (interleaved), so within each head row 2i+s comes from row
s*half+i.  Norm weights stay F32; 1-D tensors are never quantised.

The vocabulary goes in as tokenizer.ggml.model "llama" (llama.cpp's
SentencePiece tokenizer): tokens by id, scores from the BPE merge ranks (a
token made by an earlier merge scores higher, which is the order
SentencePiece merges in), token types (control for <s>/</s>, unknown for
<unk>, byte for <0xNN>), bos/eos/unk ids.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_writer as gw  # noqa: E402


def read_safetensors(path):
    """{name: float32 numpy array} of one .safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            a, b = info["data_offsets"]
            f.seek(base + a)
            raw = f.read(b - a)
            dt = info["dtype"]
            if dt == "BF16":
                u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
                arr = u.view(np.float32)
            elif dt == "F16":
                arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
            elif dt == "F32":
                arr = np.frombuffer(raw, dtype="<f4").astype(np.float32)
            else:
                raise ValueError("%s: dtype %s not supported" % (name, dt))
            out[name] = arr.reshape(info["shape"])
    return out


def load_weights(model_dir):
    files = sorted(f for f in os.listdir(model_dir) if f.endswith(".safetensors"))
    if not files:
        raise SystemExit("no .safetensors in " + model_dir)
    w = {}
    for f in files:
        w.update(read_safetensors(os.path.join(model_dir, f)))
    return w


def rope_interleave(w, n_heads):
    """[n_heads*head_dim, in] rows from rotate_half order to interleaved."""
    rows, cols = w.shape
    hd = rows // n_heads
    return (w.reshape(n_heads, 2, hd // 2, cols)
             .swapaxes(1, 2)
             .reshape(rows, cols))


def vocab_of(model_dir, n_vocab):
    tj = json.load(open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8"))
    model = tj["model"]
    if model.get("type") != "BPE" or not model.get("byte_fallback"):
        raise SystemExit("tokenizer.json is not a SentencePiece-style BPE "
                         "(type BPE with byte_fallback)")
    tokens = [None] * n_vocab
    for t, i in model["vocab"].items():
        if i < n_vocab:
            tokens[i] = t
    specials = {}
    for a in tj.get("added_tokens", []):
        if a["id"] < n_vocab:
            tokens[a["id"]] = a["content"]
            specials[a["content"]] = a["id"]
    for i, t in enumerate(tokens):
        if t is None:
            tokens[i] = "[PAD%d]" % i
    # Score = -(rank of the first merge that produces the token).
    rank = {}
    for r, m in enumerate(model.get("merges", [])):
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        rank.setdefault(a + b, r)
    ids = {t: i for i, t in enumerate(tokens)}
    scores = np.zeros(n_vocab, dtype=np.float32)
    for t, r in rank.items():
        if t in ids:
            scores[ids[t]] = -float(r + 1)
    types = np.full(n_vocab, gw.TOKEN_NORMAL, dtype=np.int32)
    for i, t in enumerate(tokens):
        if len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            types[i] = gw.TOKEN_BYTE
        elif t.startswith("[PAD"):
            types[i] = gw.TOKEN_UNUSED
    for t, i in specials.items():
        types[i] = gw.TOKEN_CONTROL
    unk = model.get("unk_token")
    if unk in ids:
        types[ids[unk]] = gw.TOKEN_UNKNOWN
    return tokens, scores, types, ids, unk


def convert(model_dir, out_path, ttype="F16", name=None):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    if cfg.get("model_type") not in ("llama", "mistral"):
        raise SystemExit("only Llama-architecture models are supported, not "
                         + str(cfg.get("model_type")))
    n_vocab = cfg["vocab_size"]
    n_embd = cfg["hidden_size"]
    n_head = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads", n_head)
    head_dim = cfg.get("head_dim") or n_embd // n_head
    n_layer = cfg["num_hidden_layers"]
    rope = cfg.get("rope_parameters") or {}
    theta = rope.get("rope_theta", cfg.get("rope_theta", 10000.0))
    if (rope.get("rope_type") or "default") != "default" or cfg.get("rope_scaling"):
        raise SystemExit("rope scaling is not supported by this converter")

    w = gw.GGUFWriter(out_path, arch="llama")
    w.add_string("general.name", name or os.path.basename(os.path.normpath(model_dir)))
    w.add_uint32("general.file_type", gw.FILE_TYPE[ttype])
    w.add_uint32("general.quantization_version", 2)
    w.add_uint32("llama.context_length", cfg.get("max_position_embeddings", 2048))
    w.add_uint32("llama.embedding_length", n_embd)
    w.add_uint32("llama.block_count", n_layer)
    w.add_uint32("llama.feed_forward_length", cfg["intermediate_size"])
    w.add_uint32("llama.attention.head_count", n_head)
    w.add_uint32("llama.attention.head_count_kv", n_kv)
    w.add_uint32("llama.rope.dimension_count", head_dim)
    w.add_uint32("llama.attention.key_length", head_dim)
    w.add_uint32("llama.attention.value_length", head_dim)
    w.add_float32("llama.attention.layer_norm_rms_epsilon", cfg.get("rms_norm_eps", 1e-5))
    w.add_float32("llama.rope.freq_base", theta)
    w.add_uint32("llama.vocab_size", n_vocab)

    tokens, scores, types, ids, unk = vocab_of(model_dir, n_vocab)
    tcfg_path = os.path.join(model_dir, "tokenizer_config.json")
    tcfg = json.load(open(tcfg_path)) if os.path.exists(tcfg_path) else {}
    w.add_string("tokenizer.ggml.model", "llama")
    w.add_string("tokenizer.ggml.pre", "default")
    w.add_array("tokenizer.ggml.tokens", tokens, gw.STRING)
    w.add_array("tokenizer.ggml.scores", scores, gw.FLOAT32)
    w.add_array("tokenizer.ggml.token_type", types, gw.INT32)

    def special(key):
        v = tcfg.get(key)
        if isinstance(v, dict):
            v = v.get("content")
        return ids.get(v) if v is not None else None
    bos = special("bos_token")
    eos = special("eos_token")
    if bos is None and cfg.get("bos_token_id") is not None:
        bos = cfg["bos_token_id"]
    if eos is None and cfg.get("eos_token_id") is not None:
        eos = cfg["eos_token_id"] if isinstance(cfg["eos_token_id"], int) else cfg["eos_token_id"][0]
    if bos is not None:
        w.add_uint32("tokenizer.ggml.bos_token_id", bos)
    if eos is not None:
        w.add_uint32("tokenizer.ggml.eos_token_id", eos)
    if unk in ids:
        w.add_uint32("tokenizer.ggml.unknown_token_id", ids[unk])
    w.add_bool("tokenizer.ggml.add_bos_token", tcfg.get("add_bos_token", True))
    w.add_bool("tokenizer.ggml.add_eos_token", tcfg.get("add_eos_token", False))
    if tcfg.get("chat_template"):
        w.add_string("tokenizer.chat_template", tcfg["chat_template"])

    weights = load_weights(model_dir)

    def put(gname, hname, transform=None):
        a = weights.pop(hname)
        if transform:
            a = transform(a)
        t = "F32" if a.ndim == 1 else ttype
        if t in ("Q8_0", "Q4_0") and a.shape[-1] % 32:
            t = "F16"
        w.add_tensor(gname, a, t)

    put("token_embd.weight", "model.embed_tokens.weight")
    for i in range(n_layer):
        p = "model.layers.%d." % i
        b = "blk.%d." % i
        put(b + "attn_norm.weight", p + "input_layernorm.weight")
        put(b + "attn_q.weight", p + "self_attn.q_proj.weight",
            lambda a: rope_interleave(a, n_head))
        put(b + "attn_k.weight", p + "self_attn.k_proj.weight",
            lambda a: rope_interleave(a, n_kv))
        put(b + "attn_v.weight", p + "self_attn.v_proj.weight")
        put(b + "attn_output.weight", p + "self_attn.o_proj.weight")
        put(b + "ffn_norm.weight", p + "post_attention_layernorm.weight")
        put(b + "ffn_gate.weight", p + "mlp.gate_proj.weight")
        put(b + "ffn_up.weight", p + "mlp.up_proj.weight")
        put(b + "ffn_down.weight", p + "mlp.down_proj.weight")
    put("output_norm.weight", "model.norm.weight")
    if "lm_head.weight" in weights and not cfg.get("tie_word_embeddings", False):
        put("output.weight", "lm_head.weight")
    weights.pop("lm_head.weight", None)
    left = [k for k in weights if not k.endswith("rotary_emb.inv_freq")]
    if left:
        raise SystemExit("tensors not converted: " + ", ".join(sorted(left)[:8]))
    w.write()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("out")
    ap.add_argument("--type", default="F16", choices=sorted(gw.TENSOR_TYPES))
    ap.add_argument("--name")
    a = ap.parse_args()
    convert(a.model_dir, a.out, a.type, a.name)


if __name__ == "__main__":
    main()
