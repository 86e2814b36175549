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

  scripts/hf-to-gguf.py SRC_DIR OUT.gguf [--type TYPE] [--split N]
                        [--tokenizer DIR] [--name NAME]
  scripts/hf-to-gguf.py --dequantize IN.gguf OUT.gguf

TYPE: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q3_k q4_k q5_k q6_k.
Every matrix gets TYPE (llama.cpp's mixes, e.g. Q6_K for output.weight,
are not imitated); 1-D tensors stay F32.  The blocks are ggml's exact
layouts (ggml-common.h); the values come from simple rules in the spirit
of ggml-quants.c's quantize_row_*_ref (the legacy types exactly as there;
the K types take each sub-block's scale and min from its extremes, without
ggml's search for the best ones).  A matrix whose rows are not a multiple
of the block falls back as llama.cpp does: q2_k/q3_k -> q4_0, q4_k ->
q5_0, q5_k -> q5_1, q6_k -> q8_0 (rows a multiple of 32), else F16.

--split N writes OUT as N files NAME-0000K-of-0000N.gguf (OUT's name
without .gguf is NAME) with llama.cpp's split.* keys.

--dequantize writes OUT as IN with every tensor in F32: the values each
block stands for, decoded here from the block layouts (independently of
the library's kernels), and general.file_type 0; the metadata is copied
as it is.  One file in, one out (no split sets).
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
T_F32, T_F16, T_Q4_0, T_Q4_1, T_Q5_0, T_Q5_1, T_Q8_0 = 0, 1, 2, 3, 6, 7, 8
T_Q2_K, T_Q3_K, T_Q4_K, T_Q5_K, T_Q6_K, T_BF16 = 10, 11, 12, 13, 14, 30
# --type -> (ggml type, general.file_type: llama.cpp's llama_ftype; the K
# types as their _S mixes, Q2_K as MOSTLY_Q2_K)
TYPES = {"f32": (T_F32, 0), "f16": (T_F16, 1), "bf16": (T_BF16, 32),
         "q8_0": (T_Q8_0, 7), "q4_0": (T_Q4_0, 2), "q4_1": (T_Q4_1, 3),
         "q5_0": (T_Q5_0, 8), "q5_1": (T_Q5_1, 9), "q2_k": (T_Q2_K, 10),
         "q3_k": (T_Q3_K, 11), "q4_k": (T_Q4_K, 14), "q5_k": (T_Q5_K, 16),
         "q6_k": (T_Q6_K, 18)}
# ggml type -> (values per block, bytes per block)
BLOCK = {T_F32: (1, 4), T_F16: (1, 2), T_BF16: (1, 2), T_Q4_0: (32, 18),
         T_Q4_1: (32, 20), T_Q5_0: (32, 22), T_Q5_1: (32, 24), T_Q8_0: (32, 34),
         T_Q2_K: (256, 84), T_Q3_K: (256, 110), T_Q4_K: (256, 144),
         T_Q5_K: (256, 176), T_Q6_K: (256, 210)}
# what a K type becomes when the rows are not a multiple of 256
K_FALLBACK = {T_Q2_K: T_Q4_0, T_Q3_K: T_Q4_0, T_Q4_K: T_Q5_0, T_Q5_K: T_Q5_1,
              T_Q6_K: T_Q8_0}


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


def f16r(x):
    """x rounded to float16 and back (the value a stored ggml_half holds)."""
    return struct.unpack("<e", struct.pack("<e", x))[0]


def largest(blk):
    """The value of largest magnitude (the first such)."""
    mx = 0.0
    for x in blk:
        if abs(x) > abs(mx):
            mx = x
    return mx


def nibbles(q):
    """32 values 0..15 -> 16 bytes: value j in the low nibble of byte j, value
    j+16 in its high nibble (Q4_0, Q4_1, Q5_0, Q5_1)."""
    return bytes(q[j] | (q[j + 16] << 4) for j in range(16))


def high_bits(q):
    """32 values 0..31 -> their bit 4 as a u32, value j at bit j (Q5_0, Q5_1)."""
    h = 0
    for j in range(32):
        h |= ((q[j] >> 4) & 1) << j
    return struct.pack("<I", h)


def enc_q4_1(a):
    # quantize_row_q4_1_ref: d = (max-min)/15, m = min, q = min(15, (int)((x-min)/d + 0.5))
    out = bytearray()
    for i in range(0, len(a), 32):
        blk = a[i:i + 32]
        mn, mx = min(blk), max(blk)
        d = (mx - mn) / 15.0
        idl = 1.0 / d if d else 0.0
        q = [min(15, int((x - mn) * idl + 0.5)) for x in blk]
        out += struct.pack("<ee", d, mn) + nibbles(q)
    return bytes(out)


def enc_q5_0(a):
    # quantize_row_q5_0_ref: d = max/-16, q = min(31, (int)(x/d + 16.5));
    # bit 4 of q in qh, the low 4 bits as Q4_0's nibbles
    out = bytearray()
    for i in range(0, len(a), 32):
        blk = a[i:i + 32]
        d = largest(blk) / -16.0
        idl = 1.0 / d if d else 0.0
        q = [min(31, int(x * idl + 16.5)) for x in blk]
        out += struct.pack("<e", d) + high_bits(q) + nibbles([v & 15 for v in q])
    return bytes(out)


def enc_q5_1(a):
    # quantize_row_q5_1_ref: d = (max-min)/31, m = min, q = (int)((x-min)/d + 0.5)
    out = bytearray()
    for i in range(0, len(a), 32):
        blk = a[i:i + 32]
        mn, mx = min(blk), max(blk)
        d = (mx - mn) / 31.0
        idl = 1.0 / d if d else 0.0
        q = [min(31, int((x - mn) * idl + 0.5)) for x in blk]
        out += struct.pack("<ee", d, mn) + high_bits(q) + nibbles([v & 15 for v in q])
    return bytes(out)


# K types: super-blocks of 256 values.
def affine_k(blk, sub, nmax, smax):
    """Sub-blocks of `sub` values as d*sc*q - dmin*m, q in 0..nmax, sc and m
    in 0..smax: each sub-block's scale (max-min)/nmax and min -min(0, min);
    d, dmin = the largest of them / smax.  -> d, dmin, sc, m, q."""
    ns = 256 // sub
    scales, mins = [], []
    for j in range(ns):
        s = blk[j * sub:(j + 1) * sub]
        mn = min(min(s), 0.0)
        scales.append((max(s) - mn) / nmax)
        mins.append(-mn)
    d = f16r(max(scales) / smax)
    dmin = f16r(max(mins) / smax)
    sc = [min(smax, round(v / d)) if d else 0 for v in scales]
    m = [min(smax, round(v / dmin)) if dmin else 0 for v in mins]
    q = []
    for j in range(ns):
        dl, ml = d * sc[j], dmin * m[j]
        s = blk[j * sub:(j + 1) * sub]
        if dl:
            idl = 1.0 / dl
            q.extend(min(nmax, max(0, round((x + ml) * idl))) for x in s)
        else:
            q.extend([0] * sub)
    return d, dmin, sc, m, q


def symmetric_k(blk, qlo, slo):
    """16 sub-blocks of 16 as d*sc*q, q in qlo..-qlo-1, sc in slo..-slo-1:
    each sub-block's scale maps its value of largest magnitude to qlo, d maps
    the scale of largest magnitude to slo.  -> d, sc, q (offset by -qlo)."""
    scales = [largest(blk[j * 16:(j + 1) * 16]) / qlo for j in range(16)]
    d = f16r(largest(scales) / slo)
    sc = [max(slo, min(-slo - 1, round(v / d))) if d else 0 for v in scales]
    q = []
    for j in range(16):
        dl = d * sc[j]
        s = blk[j * 16:(j + 1) * 16]
        if dl:
            idl = 1.0 / dl
            q.extend(max(qlo, min(-qlo - 1, round(x * idl))) - qlo for x in s)
        else:
            q.extend([-qlo] * 16)
    return d, sc, q


def crumbs(q):
    """256 values 0..3 -> 64 bytes: per 128 values, byte l holds values
    l, l+32, l+64, l+96 at bits 0, 2, 4, 6 (Q2_K, Q3_K)."""
    out = bytearray()
    for j in (0, 128):
        out += bytes(q[j + l] | (q[j + l + 32] << 2) | (q[j + l + 64] << 4) | (q[j + l + 96] << 6)
                     for l in range(32))
    return out


def nibbles_k(q):
    """256 values 0..15 -> 128 bytes: per 64 values, byte l holds value l low,
    l+32 high (Q4_K, Q5_K)."""
    out = bytearray()
    for j in range(0, 256, 64):
        out += bytes(q[j + l] | (q[j + l + 32] << 4) for l in range(32))
    return out


def bits_k(q, bit):
    """256 values -> 32 bytes: bit `bit` of value e at bit e//32 of byte e%32
    (Q3_K's hmask, Q5_K's qh)."""
    h = [0] * 32
    for e in range(256):
        h[e % 32] |= ((q[e] >> bit) & 1) << (e // 32)
    return bytes(h)


def scales_k4(sc, m):
    """8 6-bit scales and mins -> 12 bytes (Q4_K, Q5_K; get_scale_min_k4)."""
    b = [0] * 12
    for j in range(4):
        b[j], b[j + 4] = sc[j], m[j]
    for j in range(4, 8):
        b[j + 4] = (sc[j] & 15) | ((m[j] & 15) << 4)
        b[j - 4] |= (sc[j] >> 4) << 6
        b[j] |= (m[j] >> 4) << 6
    return bytes(b)


def enc_q2_k(a):
    # block_q2_K: scales[16] (scale | min << 4), qs[64], d, dmin
    out = bytearray()
    for i in range(0, len(a), 256):
        d, dmin, sc, m, q = affine_k(a[i:i + 256], 16, 3, 15)
        out += bytes(sc[j] | (m[j] << 4) for j in range(16)) + crumbs(q) + struct.pack("<ee", d, dmin)
    return bytes(out)


def enc_q3_k(a):
    # block_q3_K: hmask[32], qs[64], scales[12] (6-bit, +32), d
    out = bytearray()
    for i in range(0, len(a), 256):
        d, sc, q = symmetric_k(a[i:i + 256], -4, -32)
        b = [0] * 12
        for j in range(16):
            v = sc[j] + 32
            if j < 8:
                b[j] = v & 15
            else:
                b[j - 8] |= (v & 15) << 4
            b[8 + j % 4] |= (v >> 4) << (2 * (j // 4))
        out += bits_k(q, 2) + crumbs([v & 3 for v in q]) + bytes(b) + struct.pack("<e", d)
    return bytes(out)


def enc_q4_k(a):
    # block_q4_K: d, dmin, scales[12], qs[128]
    out = bytearray()
    for i in range(0, len(a), 256):
        d, dmin, sc, m, q = affine_k(a[i:i + 256], 32, 15, 63)
        out += struct.pack("<ee", d, dmin) + scales_k4(sc, m) + nibbles_k(q)
    return bytes(out)


def enc_q5_k(a):
    # block_q5_K: d, dmin, scales[12], qh[32], qs[128]
    out = bytearray()
    for i in range(0, len(a), 256):
        d, dmin, sc, m, q = affine_k(a[i:i + 256], 32, 31, 63)
        out += struct.pack("<ee", d, dmin) + scales_k4(sc, m) + bits_k(q, 4)
        out += nibbles_k([v & 15 for v in q])
    return bytes(out)


def enc_q6_k(a):
    # block_q6_K: ql[128], qh[64], scales[16] (int8), d
    out = bytearray()
    for i in range(0, len(a), 256):
        d, sc, q = symmetric_k(a[i:i + 256], -32, -128)
        ql, qh = bytearray(), bytearray()
        for j in (0, 128):
            ql += bytes((q[j + l] & 15) | ((q[j + l + 64] & 15) << 4) for l in range(32))
            ql += bytes((q[j + l + 32] & 15) | ((q[j + l + 96] & 15) << 4) for l in range(32))
            qh += bytes((q[j + l] >> 4) | ((q[j + l + 32] >> 4) << 2) | ((q[j + l + 64] >> 4) << 4)
                        | ((q[j + l + 96] >> 4) << 6) for l in range(32))
        out += ql + qh + struct.pack("<16b", *sc) + struct.pack("<e", d)
    return bytes(out)


ENCODE = {T_F32: lambda x: x.tobytes(), T_F16: enc_f16, T_BF16: enc_bf16,
          T_Q8_0: enc_q8_0, T_Q4_0: enc_q4_0, T_Q4_1: enc_q4_1, T_Q5_0: enc_q5_0,
          T_Q5_1: enc_q5_1, T_Q2_K: enc_q2_k, T_Q3_K: enc_q3_k, T_Q4_K: enc_q4_k,
          T_Q5_K: enc_q5_k, T_Q6_K: enc_q6_k}


# ---------------------------------------------------------------- decodings
# Written from the block layouts alone: each returns the values of `data`
# (whole blocks) as a list of floats.
def unnibble(qs):
    """16 bytes -> 32 values: the low nibbles, then the high ones."""
    return [b & 15 for b in qs] + [b >> 4 for b in qs]


def dec_q4_0(data):
    y = []
    for o in range(0, len(data), 18):
        d = struct.unpack_from("<e", data, o)[0]
        y.extend(d * (v - 8) for v in unnibble(data[o + 2:o + 18]))
    return y


def dec_q4_1(data):
    y = []
    for o in range(0, len(data), 20):
        d, m = struct.unpack_from("<ee", data, o)
        y.extend(d * v + m for v in unnibble(data[o + 4:o + 20]))
    return y


def dec_q5_0(data):
    y = []
    for o in range(0, len(data), 22):
        d, qh = struct.unpack_from("<eI", data, o)
        lo = unnibble(data[o + 6:o + 22])
        y.extend(d * ((lo[j] | (((qh >> j) & 1) << 4)) - 16) for j in range(32))
    return y


def dec_q5_1(data):
    y = []
    for o in range(0, len(data), 24):
        d, m, qh = struct.unpack_from("<eeI", data, o)
        lo = unnibble(data[o + 8:o + 24])
        y.extend(d * (lo[j] | (((qh >> j) & 1) << 4)) + m for j in range(32))
    return y


def dec_q8_0(data):
    y = []
    for o in range(0, len(data), 34):
        d = struct.unpack_from("<e", data, o)[0]
        y.extend(d * v for v in struct.unpack_from("<32b", data, o + 2))
    return y


def uncrumb(qs):
    """64 bytes -> 256 values 0..3 (inverse of crumbs)."""
    q = []
    for h in (0, 32):
        for s in (0, 2, 4, 6):
            q.extend((qs[h + l] >> s) & 3 for l in range(32))
    return q


def unnibble_k(qs):
    """128 bytes -> 256 values 0..15 (inverse of nibbles_k)."""
    q = []
    for h in range(0, 128, 32):
        q.extend(b & 15 for b in qs[h:h + 32])
        q.extend(b >> 4 for b in qs[h:h + 32])
    return q


def unbits_k(hb):
    """32 bytes -> 256 bits: value e is bit e//32 of byte e%32."""
    return [(hb[e % 32] >> (e // 32)) & 1 for e in range(256)]


def unscales_k4(b):
    sc, m = [], []
    for j in range(8):
        if j < 4:
            sc.append(b[j] & 63)
            m.append(b[j + 4] & 63)
        else:
            sc.append((b[j + 4] & 15) | ((b[j - 4] >> 6) << 4))
            m.append((b[j + 4] >> 4) | ((b[j] >> 6) << 4))
    return sc, m


def dec_q2_k(data):
    y = []
    for o in range(0, len(data), 84):
        s = data[o:o + 16]
        q = uncrumb(data[o + 16:o + 80])
        d, dmin = struct.unpack_from("<ee", data, o + 80)
        for j in range(16):
            dl, ml = d * (s[j] & 15), dmin * (s[j] >> 4)
            y.extend(dl * v - ml for v in q[16 * j:16 * j + 16])
    return y


def dec_q3_k(data):
    y = []
    for o in range(0, len(data), 110):
        hb = unbits_k(data[o:o + 32])
        q = uncrumb(data[o + 32:o + 96])
        b = data[o + 96:o + 108]
        d = struct.unpack_from("<e", data, o + 108)[0]
        for j in range(16):
            lo = b[j] & 15 if j < 8 else b[j - 8] >> 4
            sc = (lo | (((b[8 + j % 4] >> (2 * (j // 4))) & 3) << 4)) - 32
            dl = d * sc
            y.extend(dl * (q[e] + 4 * hb[e] - 4) for e in range(16 * j, 16 * j + 16))
    return y


def dec_q4_k(data):
    y = []
    for o in range(0, len(data), 144):
        d, dmin = struct.unpack_from("<ee", data, o)
        sc, m = unscales_k4(data[o + 4:o + 16])
        q = unnibble_k(data[o + 16:o + 144])
        for j in range(8):
            dl, ml = d * sc[j], dmin * m[j]
            y.extend(dl * v - ml for v in q[32 * j:32 * j + 32])
    return y


def dec_q5_k(data):
    y = []
    for o in range(0, len(data), 176):
        d, dmin = struct.unpack_from("<ee", data, o)
        sc, m = unscales_k4(data[o + 4:o + 16])
        hb = unbits_k(data[o + 16:o + 48])
        q = unnibble_k(data[o + 48:o + 176])
        for j in range(8):
            dl, ml = d * sc[j], dmin * m[j]
            y.extend(dl * (q[e] + 16 * hb[e]) - ml for e in range(32 * j, 32 * j + 32))
    return y


def dec_q6_k(data):
    y = []
    for o in range(0, len(data), 210):
        ql, qh = data[o:o + 128], data[o + 128:o + 192]
        sc = struct.unpack_from("<16b", data, o + 192)
        d = struct.unpack_from("<e", data, o + 208)[0]
        for e in range(256):
            n, r = divmod(e, 128)
            g, l = divmod(r, 32)
            b = ql[n * 64 + l + (32 if g & 1 else 0)]
            lo = b & 15 if g < 2 else b >> 4
            hi = (qh[n * 32 + l] >> (2 * g)) & 3
            y.append(d * sc[e // 16] * ((lo | (hi << 4)) - 32))
    return y


def dec_f16(data):
    return list(struct.unpack("<%de" % (len(data) // 2), data))


def dec_bf16(data):
    h = array.array("H")
    h.frombytes(data)
    a = array.array("f")
    a.frombytes(array.array("I", (x << 16 for x in h)).tobytes())
    return a


def dec_f32(data):
    a = array.array("f")
    a.frombytes(data)
    return a


DECODE = {T_F32: dec_f32, T_F16: dec_f16, T_BF16: dec_bf16, T_Q8_0: dec_q8_0,
          T_Q4_0: dec_q4_0, T_Q4_1: dec_q4_1, T_Q5_0: dec_q5_0, T_Q5_1: dec_q5_1,
          T_Q2_K: dec_q2_k, T_Q3_K: dec_q3_k, T_Q4_K: dec_q4_k, T_Q5_K: dec_q5_k,
          T_Q6_K: dec_q6_k}


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


# ---------------------------------------------------------------- GGUF reader
def read_gguf(path):
    """-> (kv [(key, type, value, elem type)], tensors [(name, ne, type, bytes)])"""
    raw = open(path, "rb").read()
    pos = [0]

    def take(fmt):
        v = struct.unpack_from(fmt, raw, pos[0])
        pos[0] += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string():
        n = take("<Q")
        s = raw[pos[0]:pos[0] + n]
        pos[0] += n
        return s.decode("utf-8", "surrogateescape")

    fmt = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32V: "<f",
           BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}

    def value(t):
        if t == STRING:
            return string()
        if t == ARRAY:
            raise SystemExit("%s: nested arrays are not copied" % path)
        return take(fmt[t])

    magic, version, nt, nkv = take("<IIQQ")
    if magic != GGUF_MAGIC or version not in (2, 3):
        raise SystemExit("%s: not a GGUF v2/v3 file" % path)
    kv = []
    align = ALIGN
    for _ in range(nkv):
        key = string()
        t = take("<I")
        if t == ARRAY:
            et, n = take("<IQ")
            kv.append((key, t, [value(et) for _ in range(n)], et))
        else:
            kv.append((key, t, value(t), None))
            if key == "general.alignment":
                align = kv[-1][2]
    infos = []
    for _ in range(nt):
        name = string()
        nd = take("<I")
        ne = list(struct.unpack_from("<%dQ" % nd, raw, pos[0]))
        pos[0] += 8 * nd
        gt, off = take("<IQ")
        infos.append((name, ne, gt, off))
    base = (pos[0] + align - 1) // align * align
    tensors = []
    for name, ne, gt, off in infos:
        if gt not in BLOCK:
            raise SystemExit("%s: tensor %s has ggml type %d, not read here" % (path, name, gt))
        n = 1
        for x in ne:
            n *= x
        be, bb = BLOCK[gt]
        size = n // be * bb
        tensors.append((name, ne, gt, raw[base + off:base + off + size]))
    return kv, tensors


def dequantize(inp, out):
    kv, tensors = read_gguf(inp)
    if any(k.startswith("split.") for k, _, _, _ in kv):
        raise SystemExit("%s: split files are not dequantised here" % inp)
    w = Writer()
    for k, t, v, et in kv:
        if k == "general.file_type":
            v = 0
        elif k == "general.alignment" and v != ALIGN:
            raise SystemExit("%s: general.alignment %d (only %d is written here)" % (inp, v, ALIGN))
        w.add(k, t, v, et)
    for name, ne, gt, data in tensors:
        w.add_tensor(name, ne, T_F32, array.array("f", DECODE[gt](data)).tobytes())
    w.write(out)
    return [out]


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
        if t in K_FALLBACK and ne[0] % 256:
            t = K_FALLBACK[t]
        if BLOCK[t][0] > 1 and ne[0] % BLOCK[t][0]:
            t = T_F16
        data = ENCODE[t](a)
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
    else:
        # No vocabulary: llama.cpp's marker for a file that takes token ids
        # only (its converter writes the same), which our loader accepts.
        w.add("tokenizer.ggml.model", STRING, "no_vocab")

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
    ap.add_argument("src", help="model directory (a GGUF file with --dequantize)")
    ap.add_argument("out")
    ap.add_argument("--type", default="f16", choices=sorted(TYPES))
    ap.add_argument("--split", type=int, default=1)
    ap.add_argument("--tokenizer", help="directory with tokenizer.json (default: SRC)")
    ap.add_argument("--name")
    ap.add_argument("--dequantize", action="store_true",
                    help="write SRC (a GGUF file) as F32: every tensor decoded")
    a = ap.parse_args()
    if a.dequantize:
        paths = dequantize(a.src, a.out)
    else:
        paths = convert(a.src, a.out, a.type, a.split, a.tokenizer, a.name)
    for p in paths:
        print(p)


if __name__ == "__main__":
    main()
