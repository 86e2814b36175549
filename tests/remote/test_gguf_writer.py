#!/usr/bin/env python3
"""Tests of scripts/gguf (the GGUF writer and the Hugging Face converter).

- Q8_0 / Q4_0 blocks: the dequantised values are within the format's error
  bound, and, when llama.cpp's own gguf-py is in the cache (scripts/
  build-llama-cpp.sh clones it), byte-identical to its quantiser.
- A written file reads back (our reader, and gguf-py's when present) with
  the same metadata and tensors.
- The bundled model converts; undoing the q/k row interleave gives back the
  Hugging Face weights; the vocabulary keeps ids, bos/eos and byte tokens.
Exit 0 when all checks pass.
"""
import json
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "gguf"))
import convert_hf  # noqa: E402
import gguf_writer as gw  # noqa: E402

GGUF_PY = os.path.join(ROOT, ".cache", "llama.cpp", "src", "gguf-py")
failed = 0
passed = 0


def check(cond, what):
    global failed, passed
    if cond:
        passed += 1
    else:
        failed += 1
        print("CHECK failed:", what, file=sys.stderr)


def test_quant():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((8, 96)).astype(np.float32) * 3
    x[0, :32] = 0.0  # an all-zero block
    for t, deq, tol in (("Q8_0", gw.dequantize_q8_0, 0.5 / 127),
                        ("Q4_0", gw.dequantize_q4_0, 1.0 / 8)):
        data = gw.encode_tensor(x, t)
        check(len(data) == gw.tensor_nbytes(x.shape, t), t + " size")
        y = deq(data, x.size).reshape(x.shape)
        amax = np.abs(x.reshape(-1, 32)).max(axis=1).repeat(32).reshape(x.shape)
        err = np.abs(y - x) / np.maximum(amax, 1e-30)
        # half a step of the scale, plus the f16 rounding of the scale
        check(float(err.max()) <= tol + 2e-3, "%s error %.4f" % (t, err.max()))
        check(np.all(y[0, :32] == 0), t + " zero block")
    if os.path.isdir(GGUF_PY):
        sys.path.insert(0, GGUF_PY)
        from gguf import quants, GGMLQuantizationType as Q
        for t, q in (("Q8_0", Q.Q8_0), ("Q4_0", Q.Q4_0)):
            ref = quants.quantize(x, q).tobytes()
            check(ref == gw.encode_tensor(x, t), t + " bytes equal gguf-py's")
    else:
        print("note: gguf-py not in .cache, skipped the byte comparison")


def test_roundtrip(tmp):
    path = os.path.join(tmp, "t.gguf")
    w = gw.GGUFWriter(path, arch="llama")
    w.add_uint32("a.u32", 7)
    w.add_float32("a.f32", 0.5)
    w.add_bool("a.bool", True)
    w.add_string("a.str", "h\u00e9llo")
    w.add_array("a.strs", ["x", "", "\u2581y"], gw.STRING)
    w.add_array("a.i32", [1, -2, 3], gw.INT32)
    a = np.arange(3 * 64, dtype=np.float32).reshape(3, 64) / 10
    w.add_tensor("t.f32", a, "F32")
    w.add_tensor("t.f16", a, "F16")
    w.add_tensor("t.q8", a, "Q8_0")
    w.add_tensor_lazy("t.q4", (3, 64), "Q4_0", lambda: a)
    w.add_tensor("t.vec", np.ones(5, np.float32), "F32")
    w.write()
    meta, ts = gw.read_gguf(path)
    check(meta["general.architecture"] == "llama", "arch")
    check(meta["a.u32"] == 7 and meta["a.f32"] == 0.5 and meta["a.bool"] is True, "scalars")
    check(meta["a.str"] == "h\u00e9llo", "string")
    check(meta["a.strs"] == ["x", "", "\u2581y"], "string array")
    check(meta["a.i32"] == [1, -2, 3], "int array")
    check(ts["t.f32"][0] == (3, 64), "shape")
    check(np.array_equal(gw.decode_tensor(*ts["t.f32"]), a), "f32 data")
    check(np.allclose(gw.decode_tensor(*ts["t.f16"]), a, rtol=1e-3), "f16 data")
    check(np.allclose(gw.decode_tensor(*ts["t.q8"]), a, atol=0.1), "q8 data")
    check(np.allclose(gw.decode_tensor(*ts["t.q4"]), a, atol=1.3), "q4 data")
    check(ts["t.vec"][0] == (5,), "1-D shape")
    try:
        w.add_tensor("bad", np.ones((2, 20), np.float32), "Q8_0")
        check(False, "Q8_0 with 20 columns must be refused")
    except ValueError:
        check(True, "")
    if os.path.isdir(GGUF_PY):
        sys.path.insert(0, GGUF_PY)
        from gguf import GGUFReader
        r = GGUFReader(path)
        names = {t.name: t for t in r.tensors}
        check(set(names) == {"t.f32", "t.f16", "t.q8", "t.q4", "t.vec"}, "gguf-py tensors")
        check(list(names["t.f32"].shape) == [64, 3], "gguf-py shape (innermost first)")
        check(np.array_equal(np.asarray(names["t.f32"].data).reshape(3, 64), a),
              "gguf-py f32 data")


def test_convert(tmp):
    src = os.path.join(ROOT, "models", "brown-llama-8m")
    path = os.path.join(tmp, "brown.gguf")
    convert_hf.convert(src, path, "F16")
    meta, ts = gw.read_gguf(path)
    cfg = json.load(open(os.path.join(src, "config.json")))
    check(meta["llama.block_count"] == cfg["num_hidden_layers"], "block_count")
    check(meta["llama.attention.head_count_kv"] == cfg["num_key_value_heads"], "kv heads")
    check(meta["tokenizer.ggml.bos_token_id"] == 1 and meta["tokenizer.ggml.eos_token_id"] == 2, "bos/eos")
    toks = meta["tokenizer.ggml.tokens"]
    tj = json.load(open(os.path.join(src, "tokenizer.json"), encoding="utf-8"))
    check(len(toks) == cfg["vocab_size"], "vocab size")
    check(all(toks[i] == t for t, i in tj["model"]["vocab"].items()), "token ids kept")
    types = meta["tokenizer.ggml.token_type"]
    check(types[toks.index("<0x0A>")] == gw.TOKEN_BYTE, "byte token type")
    check(types[1] == gw.TOKEN_CONTROL and types[0] == gw.TOKEN_UNKNOWN, "special types")
    sc = meta["tokenizer.ggml.scores"]
    first = tj["model"]["merges"][0]
    first = first.replace(" ", "") if isinstance(first, str) else "".join(first)
    check(sc[toks.index(first)] == -1.0, "first merge scores highest")
    check("output.weight" not in ts, "tied embeddings: no output tensor")
    hf = convert_hf.load_weights(src)
    for name, hname, heads in (("blk.2.attn_q.weight", "model.layers.2.self_attn.q_proj.weight",
                                cfg["num_attention_heads"]),
                               ("blk.2.attn_k.weight", "model.layers.2.self_attn.k_proj.weight",
                                cfg["num_key_value_heads"])):
        g = gw.decode_tensor(*ts[name])
        rows, cols = g.shape
        hd = rows // heads
        # undo: interleaved (pairs) -> rotate_half (halves)
        back = g.reshape(heads, hd // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)
        check(np.allclose(back, hf[hname], rtol=1e-3, atol=1e-4), name + " permutation")
        check(not np.allclose(g, hf[hname], atol=1e-4), name + " is permuted")
    e = gw.decode_tensor(*ts["token_embd.weight"])
    check(np.allclose(e, hf["model.embed_tokens.weight"], rtol=1e-3, atol=1e-4), "embeddings")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        test_quant()
        test_roundtrip(tmp)
        test_convert(tmp)
    print("test_gguf_writer: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
