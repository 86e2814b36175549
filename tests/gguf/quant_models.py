#!/usr/bin/env python3
"""quant_models.py: the set-up of tests/gguf's quantisation tests.

  quant_models.py OUT_DIR

Writes into OUT_DIR (made afresh):
  llama256/, qwen3256/      random HF models with 256/512-wide matrices
                            (tests/gguf/mktiny.py)
  NAME-f32.gguf             their F32 conversions
  NAME-TYPE.gguf            every quantised type of scripts/hf-to-gguf.py
  NAME-TYPE-deq.gguf        each dequantised back to F32 (--dequantize):
                            the reference the quantised file is checked
                            against
  brown-TYPE.gguf, brown-TYPE-deq.gguf
                            models/brown-llama-8m as f16, q8_0, q5_0, q5_1,
                            q4_0, q4_1, and the K types as mixes: brown's
                            192-wide rows fall back (q6_k -> q8_0, q4_k ->
                            q5_0, ...) and its 512-wide ffn_down is the K
                            type, as llama-quantize does it
  brown-ids.json            the perplexity ids of tests/fixtures/golden/brown.json
The conversions run in parallel (one per CPU)."""
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONV = os.path.join(ROOT, "scripts", "hf-to-gguf.py")
TYPES = ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"]
BROWN_TYPES = ["f16", "q8_0", "q6_k", "q5_0", "q5_1", "q5_k", "q4_0", "q4_1", "q4_k", "q3_k", "q2_k"]


def run(*args):
    subprocess.run([sys.executable] + list(args), check=True, stdout=subprocess.DEVNULL)


def quant(src, out, t):
    run(CONV, src, out + "-%s.gguf" % t, "--type", t)
    run(CONV, "--dequantize", out + "-%s.gguf" % t, out + "-%s-deq.gguf" % t)


def main():
    out = sys.argv[1]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    models = {"llama256": "llama", "qwen3256": "qwen3"}
    for name, kind in models.items():
        run(os.path.join(HERE, "mktiny.py"), kind, os.path.join(out, name))
    with open(os.path.join(ROOT, "tests", "fixtures", "golden", "brown.json")) as f:
        ids = json.load(f)["perplexity"]["ppl_ids"]
    with open(os.path.join(out, "brown-ids.json"), "w") as f:
        json.dump(ids, f)
    jobs = []
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as ex:
        brown = os.path.join(ROOT, "models", "brown-llama-8m")
        for t in BROWN_TYPES:  # the largest first
            jobs.append(ex.submit(quant, brown, os.path.join(out, "brown"), t))
        for name in models:
            src, base = os.path.join(out, name), os.path.join(out, name)
            jobs.append(ex.submit(run, CONV, src, base + "-f32.gguf", "--type", "f32"))
            for t in TYPES:
                jobs.append(ex.submit(quant, src, base, t))
        for j in jobs:
            j.result()


if __name__ == "__main__":
    main()
