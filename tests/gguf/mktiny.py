#!/usr/bin/env python3
"""mktiny.py: a small random Hugging Face model directory whose matrices
are all 256 or 512 wide, so every K type (256-value super-blocks) applies
to every matrix.  Deterministic (seeded), float32 safetensors, no
tokenizer.  Made at test set-up by tests/gguf/CMakeLists.txt.

  mktiny.py llama|qwen3 OUT_DIR

llama: untied lm_head; qwen3: tied embeddings, q_norm/k_norm.  Both:
hidden 256, intermediate 512, 4 heads of 64, 2 KV heads, 2 layers,
vocabulary 512.
"""
import array
import json
import os
import random
import struct
import sys


def main():
    kind, out = sys.argv[1], sys.argv[2]
    if kind not in ("llama", "qwen3"):
        raise SystemExit("usage: mktiny.py llama|qwen3 OUT_DIR")
    H, I, NH, NKV, HD, L, V = 256, 512, 4, 2, 64, 2, 512
    qwen = kind == "qwen3"
    cfg = {"architectures": ["Qwen3ForCausalLM" if qwen else "LlamaForCausalLM"],
           "model_type": kind, "hidden_size": H, "intermediate_size": I,
           "num_attention_heads": NH, "num_key_value_heads": NKV, "head_dim": HD,
           "num_hidden_layers": L, "vocab_size": V, "max_position_embeddings": 1024,
           "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "hidden_act": "silu",
           "tie_word_embeddings": qwen, "torch_dtype": "float32",
           "bos_token_id": 1, "eos_token_id": 2}
    rng = random.Random(19 if qwen else 17)
    tensors = []

    def mat(name, rows, cols, std):
        tensors.append((name, [rows, cols], [rng.gauss(0.0, std) for _ in range(rows * cols)]))

    def norm(name, n):
        tensors.append((name, [n], [1.0 + rng.uniform(-0.2, 0.2) for _ in range(n)]))

    mat("model.embed_tokens.weight", V, H, 1.0)
    for i in range(L):
        p = "model.layers.%d." % i
        norm(p + "input_layernorm.weight", H)
        mat(p + "self_attn.q_proj.weight", NH * HD, H, 0.08)
        mat(p + "self_attn.k_proj.weight", NKV * HD, H, 0.08)
        mat(p + "self_attn.v_proj.weight", NKV * HD, H, 0.08)
        mat(p + "self_attn.o_proj.weight", H, NH * HD, 0.08)
        if qwen:
            norm(p + "self_attn.q_norm.weight", HD)
            norm(p + "self_attn.k_norm.weight", HD)
        norm(p + "post_attention_layernorm.weight", H)
        mat(p + "mlp.gate_proj.weight", I, H, 0.08)
        mat(p + "mlp.up_proj.weight", I, H, 0.08)
        mat(p + "mlp.down_proj.weight", H, I, 0.06)
    norm("model.norm.weight", H)
    if not qwen:
        mat("lm_head.weight", V, H, 0.1)

    hdr, blobs, off = {}, [], 0
    for name, shape, vals in tensors:
        b = array.array("f", vals).tobytes()
        hdr[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(hdr).encode()
    h += b" " * ((-len(h)) % 8)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)


if __name__ == "__main__":
    main()
