#!/usr/bin/env python3
"""ppl_gguf.py: brown-llama-8m as GGUF, perplexity of each quantised file
against the F32 GGUF of its own dequantised weights (both made by
quant_models.py), over the golden perplexity ids, windows of 256.

  ppl_gguf.py INFERENCE DIR [--ids N] [TYPE...]

--ids N: only the first N ids (default: all 16384).

Each TYPE's perplexity must be within 0.5% of its reference."""
import json
import os
import subprocess
import sys


def ppl(exe, path, ids):
    out = subprocess.run([exe, "perplexity", "-m", path, "--ids-file", ids, "--window", "256",
                          "--json", "--quiet"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    exe, d, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    ids = os.path.join(d, "brown-ids.json")
    if rest[:1] == ["--ids"]:
        with open(ids) as f:
            part = json.load(f)[:int(rest[1])]
        ids = os.path.join(d, "brown-ids-%d.json" % len(part))
        with open(ids, "w") as f:
            json.dump(part, f)
        rest = rest[2:]
    types = rest or ["f16", "q8_0", "q5_0", "q4_0"]
    fails = 0
    for t in types:
        q = ppl(exe, os.path.join(d, "brown-%s.gguf" % t), ids)
        r = ppl(exe, os.path.join(d, "brown-%s-deq.gguf" % t), ids)
        rel = abs(q["ppl"] - r["ppl"]) / r["ppl"]
        ok = rel <= 0.005 and q["tokens"] == r["tokens"] > 0
        fails += not ok
        print("%s brown %-5s perplexity %.4f, its dequantised F32 %.4f (%d tokens): %.4f%% apart"
              % ("ok  " if ok else "FAIL", t, q["ppl"], r["ppl"], q["tokens"], 100 * rel))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
