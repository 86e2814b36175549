#!/usr/bin/env python3
"""hf-to-gguf.py: a Hugging Face model directory (safetensors) -> GGUF.

Follows llama.cpp's converter conventions (convert_hf_to_gguf.py) so the
file reads as llama.cpp's own would: tensor names (token_embd, blk.N.attn_q,
..., output_norm, output; no output when the embeddings are tied), the
ARCH.* metadata keys, the rows of Q and K permuted for llama (RoPE on
adjacent pairs), 1 added to Gemma 3's norm weights, Llama 3 RoPE scaling
as a rope_freqs tensor, 1-D tensors stored as F32, and the tokenizer as
tokenizer.ggml.* arrays when tokenizer.json is there.

Python 3 only (no numpy): meant for the small test models, not for real
checkpoints.

  scripts/hf-to-gguf.py SRC_DIR OUT.gguf [--type f32|f16|bf16|q8_0|q4_0]
                        [--split N] [--tokenizer DIR] [--name NAME]

--split N writes OUT as N files NAME-0000K-of-0000N.gguf (OUT's name
without .gguf is NAME) with llama.cpp's split.* keys.
"""
import argparse
import array
import json
import math
import os
import struct
import sys

GGUF_MAGIC = 0x46554747
ALIGN = 32

# value types
U8, I8, U16, I16, U32, I32, F32V, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
# ggml types
T_F32, T_F16, T_Q4_0, T_Q8_0, T_BF16 = 0, 1, 2, 8, 30
TYPES = {"f32": (T_F32, 0), "f16": (T_F16, 1), "bf16": (T_BF16, 32),
         "q8_0": (T_Q8_0, 7), "q4_0": (T_Q4_0, 2)}


# ---------------------------------------------------------------- safetensors
def read_safetensors(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        files = sorted(set(json.load(open(idx))["weight_map"].values()))
    else:
        files = sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))
    out = {}
    for f in files:
        raw = open(os.path.join(d, f), "rb").read()
        n = struct.unpack("<Q", raw[:8])[0]
        hdr = json.loads(raw[8:8 + n])
        base = 8 + n
        for name, info in hdr.items():
            if name == "__metadata__":
                continue
            b, e = info["data_offsets"]
            out[name] = (info["dtype"], info["shape"], raw[base + b:base + e])
    return out


def to_f32(dtype, data):
    """-> array('f')"""
    if dtype == "F32":
        a = array.array("f")
        a.frombytes(data)
    elif dtype == "F16":
        n = len(data) // 2
        a = array.array("f", struct.unpack("<%de" % n, data))
    elif dtype == "BF16":
        h = array.array("H")
        h.frombytes(data)
        a = array.array("f")
        a.frombytes(array.array("I", (x << 16 for x in h)).tobytes())
    else:
        raise SystemExit("unsupported dtype %s (MLX-quantised models cannot be converted)" % dtype)
    if sys.byteorder != "little":
        raise SystemExit("little-endian hosts only")
    return a


# ---------------------------------------------------------------- encodings
def enc_f16(a):
    return struct.pack("<%de" % len(a), *a)


def enc_bf16(a):
    u = array.array("I")
    u.frombytes(a.tobytes())
    return array.array("H", (((x + 0x7FFF + ((x >> 16) & 1)) >> 16) & 0xFFFF for x in u)).tobytes()


def round_away(x):
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def enc_q8_0(a):
    # ggml's quantize_row_q8_0_ref: d = amax/127, q = round(x/d)
    out = bytearray()
    for i in range(0, len(a), 32):
        blk = a[i:i + 32]
        amax = max(abs(x) for x in blk)
        d = amax / 127.0
        idl = 1.0 / d if d else 0.0
        out += struct.pack("<e", d)
        out += struct.pack("<32b", *(round_away(x * idl) for x in blk))
    return bytes(out)


def enc_q4_0(a):
    # ggml's quantize_row_q4_0_ref: d = max/-8 (max: the value of largest
    # magnitude), q = min(15, (int)(x/d + 8.5)); low nibbles hold 0..15,
    # high nibbles 16..31
    out = bytearray()
    for i in range(0, len(a), 32):
        blk = a[i:i + 32]
        amax, mx = 0.0, 0.0
        for x in blk:
            if abs(x) > amax:
                amax, mx = abs(x), x
        d = mx / -8.0
        idl = 1.0 / d if d else 0.0
        q = [min(15, int(x * idl + 8.5)) for x in blk]
        out += struct.pack("<e", d)
        out += bytes(q[j] | (q[j + 16] << 4) for j in range(16))
    return bytes(out)


# ---------------------------------------------------------------- GGUF writer
class Writer:
    def __init__(self):
        self.kv = []       # (key, type, value, elem type)
        self.tensors = []  # (name, ne, ggml type, bytes)

    def add(self, key, vtype, value, etype=None):
        self.kv.append((key, vtype, value, etype))

    def add_tensor(self, name, ne, gtype, data):
        self.tensors.append((name, ne, gtype, data))

    @staticmethod
    def s(x):
        b = x.encode("utf-8") if isinstance(x, str) else x
        return struct.pack("<Q", len(b)) + b

    def val(self, t, v, et=None):
        fmt = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32V: "<f",
               BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}
        if t == STRING:
            return self.s(v)
        if t == ARRAY:
            return struct.pack("<IQ", et, len(v)) + b"".join(self.val(et, x) for x in v)
        return struct.pack(fmt[t], v)

    def write(self, path, kv=None, tensors=None):
        kv = self.kv if kv is None else kv
        tensors = self.tensors if tensors is None else tensors
        head = bytearray(struct.pack("<IIQQ", GGUF_MAGIC, 3, len(tensors), len(kv)))
        for k, t, v, et in kv:
            head += self.s(k) + struct.pack("<I", t) + self.val(t, v, et)
        off = 0
        offs = []
        for name, ne, gt, data in tensors:
            offs.append(off)
            head += self.s(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)
            head += struct.pack("<IQ", gt, off)
            off += (len(data) + ALIGN - 1) // ALIGN * ALIGN
        head += b"\0" * ((-len(head)) % ALIGN)
        with open(path, "wb") as f:
            f.write(head)
            for (name, ne, gt, data), o in zip(tensors, offs):
                f.write(data)
                f.write(b"\0" * ((-len(data)) % ALIGN))


# ---------------------------------------------------------------- the model
def permute(a, rows, cols, n_head):
    """llama.cpp's LlamaModel.permute on the rows of a [rows, cols] matrix:
    reshape(n_head, 2, hd/2, cols).swapaxes(1, 2)."""
    hd = rows // n_head
    out = array.array("f")
    for h in range(n_head):
        for j in range(hd // 2):
            for s in range(2):
                r = h * hd + s * (hd // 2) + j
                out.extend(a[r * cols:(r + 1) * cols])
    return out


def convert(src, out, qtype, split, tokdir, name):
    cfg = json.load(open(os.path.join(src, "config.json")))
    top = cfg
    if "text_config" in cfg:
        cfg = dict(cfg["text_config"], **{k: v for k, v in cfg.items() if k in ("bos_token_id", "eos_token_id")})
    mt = cfg.get("model_type", top.get("model_type"))
    arch = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "qwen3": "qwen3",
            "gemma3": "gemma3", "gemma3_text": "gemma3"}.get(mt)
    if not arch:
        raise SystemExit("model_type %r is not supported" % mt)
    gemma = arch == "gemma3"
    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim") or H // nh
    L = cfg["num_hidden_layers"]
    rp = cfg.get("rope_parameters") or {}
    if "full_attention" in rp:
        rp = rp["full_attention"]
    rs = cfg.get("rope_scaling") or rp
    theta = cfg.get("rope_theta", rp.get("rope_theta", 1000000.0 if gemma else 10000.0))
    gtype, ftype = TYPES[qtype]

    w = Writer()
    A = lambda k: "%s.%s" % (arch, k)
    w.add("general.architecture", STRING, arch)
    w.add("general.name", STRING, name or os.path.basename(os.path.normpath(src)))
    w.add("general.file_type", U32, ftype)
    w.add(A("context_length"), U32, cfg.get("max_position_embeddings", 4096))
    w.add(A("embedding_length"), U32, H)
    w.add(A("block_count"), U32, L)
    w.add(A("feed_forward_length"), U32, cfg["intermediate_size"])
    w.add(A("attention.head_count"), U32, nh)
    w.add(A("attention.head_count_kv"), U32, nkv)
    w.add(A("attention.key_length"), U32, hd)
    w.add(A("attention.value_length"), U32, hd)
    w.add(A("rope.dimension_count"), U32, hd)
    w.add(A("rope.freq_base"), F32V, float(theta))
    w.add(A("attention.layer_norm_rms_epsilon"), F32V, float(cfg.get("rms_norm_eps", 1e-6)))
    rtype = (rs or {}).get("rope_type", (rs or {}).get("type"))
    if rtype == "linear":
        w.add(A("rope.scaling.type"), STRING, "linear")
        w.add(A("rope.scaling.factor"), F32V, float(rs["factor"]))
    elif rtype not in (None, "default", "llama3"):
        raise SystemExit("rope type %r is not supported here" % rtype)
    sw = cfg.get("sliding_window")
    if sw and (gemma or mt == "mistral"):
        w.add(A("attention.sliding_window"), U32, sw)
    if gemma:
        if sw:
            pat = cfg.get("sliding_window_pattern")
            if cfg.get("layer_types"):
                w.add(A("attention.sliding_window_pattern"), ARRAY,
                      [t == "sliding_attention" for t in cfg["layer_types"]], BOOL)
            elif pat:
                w.add(A("attention.sliding_window_pattern"), U32, pat)
        w.add(A("rope.freq_base_swa"), F32V, float(cfg.get("rope_local_base_freq", 10000.0)))
        qs = cfg.get("query_pre_attn_scalar")
        if qs and qs != hd:
            raise SystemExit("query_pre_attn_scalar %s != head_dim %s: llama.cpp would not "
                             "read it from the file" % (qs, hd))
    for k in ("final_logit_softcapping", "attn_logit_softcapping"):
        if cfg.get(k):
            w.add(A(k), F32V, float(cfg[k]))

    # tensors
    st = read_safetensors(src)
    prefix = "model."
    for p in ("model.language_model.", "language_model.model.", "model."):
        if p + "embed_tokens.weight" in st:
            prefix = p
            break
    lm = "lm_head.weight" if "lm_head.weight" in st else "language_model.lm_head.weight"
    names = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q",
             "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm",
             "self_attn.k_norm": "attn_k_norm", "mlp.gate_proj": "ffn_gate",
             "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
             "post_attention_layernorm": "post_attention_norm" if gemma else "ffn_norm",
             "pre_feedforward_layernorm": "ffn_norm",
             "post_feedforward_layernorm": "post_ffw_norm"}
    todo = []
    tied = cfg.get("tie_word_embeddings", top.get("tie_word_embeddings", gemma))
    for hf, (dt, shape, data) in st.items():
        if hf == lm:
            if tied:
                continue
            g = "output.weight"
        elif not hf.startswith(prefix):
            raise SystemExit("unexpected tensor %s" % hf)
        else:
            rest = hf[len(prefix):]
            if rest == "embed_tokens.weight":
                g = "token_embd.weight"
            elif rest == "norm.weight":
                g = "output_norm.weight"
            elif rest.startswith("layers."):
                _, n, mod = rest.split(".", 2)
                base, suffix = mod.rsplit(".", 1)
                if base not in names:
                    raise SystemExit("unexpected tensor %s" % hf)
                g = "blk.%s.%s.%s" % (n, names[base], suffix)
            else:
                raise SystemExit("unexpected tensor %s" % hf)
        a = to_f32(dt, data)
        if arch == "llama" and (".attn_q." in g or ".attn_k." in g):
            heads = nh if ".attn_q." in g else nkv
            cols = shape[1] if len(shape) == 2 else 1
            a = permute(a, shape[0], cols, heads)
        if gemma and g.endswith("norm.weight"):
            a = array.array("f", (x + 1.0 for x in a))
        todo.append((g, shape, a))
    if rtype == "llama3":
        factor = rs.get("factor", 8.0)
        lo = rs.get("low_freq_factor", 1.0)
        hi = rs.get("high_freq_factor", 4.0)
        old = rs.get("original_max_position_embeddings", 8192)
        fac = []
        for i in range(0, hd, 2):
            freq = 1.0 / (theta ** (i / hd))
            wl = 2 * math.pi / freq
            if wl < old / hi:
                fac.append(1.0)
            elif wl > old / lo:
                fac.append(factor)
            else:
                sm = (old / wl - lo) / (hi - lo)
                fac.append(1 / ((1 - sm) / factor + sm))
        todo.append(("rope_freqs.weight", [hd // 2], array.array("f", fac)))
    order = lambda t: (0 if t[0] == "token_embd.weight" else 1 if t[0].startswith("blk.") else 2,
                       int(t[0].split(".")[1]) if t[0].startswith("blk.") else 0, t[0])
    for g, shape, a in sorted(todo, key=order):
        ne = list(reversed(shape))
        t = gtype
        if len(shape) == 1 or g.endswith("norm.weight") or g == "rope_freqs.weight":
            t = T_F32
        elif t in (T_Q8_0, T_Q4_0) and ne[0] % 32:
            t = T_F16
        data = {T_F32: lambda x: x.tobytes(), T_F16: enc_f16, T_BF16: enc_bf16,
                T_Q8_0: enc_q8_0, T_Q4_0: enc_q4_0}[t](a)
        w.add_tensor(g, ne, t, data)

    # token ids and the tokenizer
    def first(v):
        return v[0] if isinstance(v, list) else v
    eos = cfg.get("eos_token_id")
    if cfg.get("bos_token_id") is not None:
        w.add("tokenizer.ggml.bos_token_id", U32, cfg["bos_token_id"])
    if eos is not None:
        w.add("tokenizer.ggml.eos_token_id", U32, first(eos))
    tokdir = tokdir or src
    tj = os.path.join(tokdir, "tokenizer.json")
    if os.path.exists(tj):
        add_tokenizer(w, json.load(open(tj)), tokdir)

    if split <= 1:
        w.write(out)
        return [out]
    stem = out[:-5] if out.endswith(".gguf") else out
    parts = [w.tensors[i::split] for i in range(split)]
    paths = []
    for i, ts in enumerate(parts):
        kv = (w.kv if i == 0 else []) + [("split.no", U16, i, None), ("split.count", U16, split, None),
                                         ("split.tensors.count", I32, len(w.tensors), None)]
        p = "%s-%05d-of-%05d.gguf" % (stem, i + 1, split)
        w.write(p, kv, ts)
        paths.append(p)
    return paths


def add_tokenizer(w, tj, tokdir):
    m = tj["model"]
    if m.get("type") != "BPE":
        raise SystemExit("only BPE tokenizer.json is converted here")
    vocab = dict(m["vocab"])
    special = set()
    for t in tj.get("added_tokens", []):
        vocab[t["content"]] = t["id"]
        if t.get("special"):
            special.add(t["id"])
    n = max(vocab.values()) + 1
    toks = ["[PAD%d]" % i for i in range(n)]
    for s, i in vocab.items():
        toks[i] = s
    spm = bool(m.get("byte_fallback"))
    types = []
    for i, s in enumerate(toks):
        if i in special:
            types.append(3)      # control
        elif spm and len(s) == 6 and s.startswith("<0x") and s.endswith(">"):
            types.append(6)      # byte
        elif s.startswith("[PAD"):
            types.append(5)      # unused
        else:
            types.append(1)      # normal
    merges = [" ".join(x) if isinstance(x, list) else x for x in m.get("merges", [])]
    w.add("tokenizer.ggml.model", STRING, "llama" if spm else "gpt2")
    w.add("tokenizer.ggml.pre", STRING, "default")
    w.add("tokenizer.ggml.tokens", ARRAY, toks, STRING)
    if spm:
        w.add("tokenizer.ggml.scores", ARRAY, [-float(i) for i in range(n)], F32V)
    w.add("tokenizer.ggml.token_type", ARRAY, types, I32)
    if merges:
        w.add("tokenizer.ggml.merges", ARRAY, merges, STRING)
    tc = os.path.join(tokdir, "tokenizer_config.json")
    if os.path.exists(tc):
        c = json.load(open(tc))
        if "add_bos_token" in c:
            w.add("tokenizer.ggml.add_bos_token", BOOL, bool(c["add_bos_token"]))
        if "add_eos_token" in c:
            w.add("tokenizer.ggml.add_eos_token", BOOL, bool(c["add_eos_token"]))
        if isinstance(c.get("chat_template"), str):
            w.add("tokenizer.chat_template", STRING, c["chat_template"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--type", default="f16", choices=sorted(TYPES))
    ap.add_argument("--split", type=int, default=1)
    ap.add_argument("--tokenizer", help="directory with tokenizer.json (default: SRC)")
    ap.add_argument("--name")
    a = ap.parse_args()
    for p in convert(a.src, a.out, a.type, a.split, a.tokenizer, a.name):
        print(p)


if __name__ == "__main__":
    main()
