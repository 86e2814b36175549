#!/usr/bin/env python3
"""make_gguf.py — writes a GGUF file of RANDOM weights with the shapes of a
Hugging Face config.json (Qwen3 or Llama), for benchmarking llama.cpp's
llama-bench on the same model shapes that `inference bench --dummy` uses.

    /usr/bin/python3 scripts/bench/make_gguf.py bench/configs/qwen3-0.6b \
        .cache/bench-gguf/qwen3-0.6b-Q4_0.gguf --type Q4_0

Weights are normal(0, 0.02) (norm weights 1), so the speed of llama.cpp's
kernels is what it is on real weights; the values are meaningless.  Every
2-D tensor is stored in --type (token_embd too, which is also the output
projection of tied models, as in the issue's reference runs); 1-D tensors
stay F32 like llama.cpp's own converter does.

The vocabulary: tokenizer.ggml.model "no_vocab" plus <arch>.vocab_size is
the smallest metadata llama.cpp's loader accepts (llama-vocab.cpp treats it
as LLAMA_VOCAB_TYPE_NONE with vocab_size dummy tokens); llama-bench never
tokenizes text, it feeds random token ids below n_vocab.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "gguf"))
import gguf_writer as gw  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config_dir", help="directory holding config.json")
    ap.add_argument("out")
    ap.add_argument("--type", default="F16", choices=sorted(gw.TENSOR_TYPES))
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    cfg = json.load(open(os.path.join(a.config_dir, "config.json")))
    mt = cfg.get("model_type")
    if mt not in ("qwen3", "llama"):
        raise SystemExit("only qwen3 and llama shapes, not %s" % mt)
    arch = mt
    n_vocab = cfg["vocab_size"]
    n_embd = cfg["hidden_size"]
    n_head = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads", n_head)
    hd = cfg.get("head_dim") or n_embd // n_head
    n_layer = cfg["num_hidden_layers"]
    n_ff = cfg["intermediate_size"]
    tied = cfg.get("tie_word_embeddings", False)

    w = gw.GGUFWriter(a.out, arch=arch)
    w.add_string("general.name", "random %s %s" % (os.path.basename(
        os.path.normpath(a.config_dir)), a.type))
    w.add_uint32("general.file_type", gw.FILE_TYPE[a.type])
    w.add_uint32("general.quantization_version", 2)
    w.add_uint32(arch + ".context_length", min(cfg.get("max_position_embeddings", 4096), 32768))
    w.add_uint32(arch + ".embedding_length", n_embd)
    w.add_uint32(arch + ".block_count", n_layer)
    w.add_uint32(arch + ".feed_forward_length", n_ff)
    w.add_uint32(arch + ".attention.head_count", n_head)
    w.add_uint32(arch + ".attention.head_count_kv", n_kv)
    w.add_uint32(arch + ".attention.key_length", hd)
    w.add_uint32(arch + ".attention.value_length", hd)
    w.add_uint32(arch + ".rope.dimension_count", hd)
    w.add_float32(arch + ".attention.layer_norm_rms_epsilon", cfg.get("rms_norm_eps", 1e-6))
    w.add_float32(arch + ".rope.freq_base", cfg.get("rope_theta", 10000.0))
    w.add_uint32(arch + ".vocab_size", n_vocab)
    w.add_string("tokenizer.ggml.model", "no_vocab")

    rng = np.random.default_rng(a.seed)

    def rand(shape):
        return lambda: rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)

    def ones(n):
        return lambda: np.ones(n, dtype=np.float32)

    def mat(name, rows, cols):
        w.add_tensor_lazy(name, (rows, cols), a.type, rand((rows, cols)))

    mat("token_embd.weight", n_vocab, n_embd)
    for i in range(n_layer):
        b = "blk.%d." % i
        w.add_tensor_lazy(b + "attn_norm.weight", (n_embd,), "F32", ones(n_embd))
        mat(b + "attn_q.weight", n_head * hd, n_embd)
        mat(b + "attn_k.weight", n_kv * hd, n_embd)
        mat(b + "attn_v.weight", n_kv * hd, n_embd)
        mat(b + "attn_output.weight", n_embd, n_head * hd)
        if arch == "qwen3":
            w.add_tensor_lazy(b + "attn_q_norm.weight", (hd,), "F32", ones(hd))
            w.add_tensor_lazy(b + "attn_k_norm.weight", (hd,), "F32", ones(hd))
        w.add_tensor_lazy(b + "ffn_norm.weight", (n_embd,), "F32", ones(n_embd))
        mat(b + "ffn_gate.weight", n_ff, n_embd)
        mat(b + "ffn_up.weight", n_ff, n_embd)
        mat(b + "ffn_down.weight", n_embd, n_ff)
    w.add_tensor_lazy("output_norm.weight", (n_embd,), "F32", ones(n_embd))
    if not tied:
        mat("output.weight", n_vocab, n_embd)
    w.write()
    print("%s: %.1f MiB" % (a.out, os.path.getsize(a.out) / 2**20))


if __name__ == "__main__":
    main()
