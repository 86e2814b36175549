#!/usr/bin/env python3
"""The GGUF weight types through the program, as a user runs them:
`inference logits -m FILE.gguf` (always the exact path) on each converted
file against the same command on a reference, max |logit difference| <= TOL.

Usage: cli_logits.py INFERENCE TOL REF:CANDIDATE...
REF and CANDIDATE are model paths (a .gguf file or a model directory).  The
pairs say what each file is checked against: a quantised file against its
own weights dequantised to F32 by the converter (the -deq.gguf files of
quant_models.py), an F32/F16/BF16 conversion against its safetensors source.
Plain python (no numpy): the logits are little-endian float32.
"""
import array
import os
import subprocess
import sys
import tempfile

TOKENS = "1,17,42,5,99,7,300,12,64,2"  # ids below every test model's vocab (512)


def logits(prog, model, out):
    r = subprocess.run([prog, "logits", "-m", model, "--tokens", TOKENS,
                        "--out", out, "--quiet"], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"FAIL: inference logits -m {model}: rc {r.returncode}: {r.stderr.strip()}")
    a = array.array("f")
    with open(out, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder != "little":
        a.byteswap()
    return a


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    prog, tol = sys.argv[1], float(sys.argv[2])
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, pair in enumerate(sys.argv[3:]):
            ref, cand = pair.split(":")
            a = logits(prog, ref, os.path.join(tmp, f"r{i}"))
            b = logits(prog, cand, os.path.join(tmp, f"c{i}"))
            if len(a) != len(b) or len(a) == 0:
                print(f"FAIL {os.path.basename(cand)}: {len(b)} logits, reference {len(a)}")
                failed += 1
                continue
            d = max(abs(x - y) for x, y in zip(a, b))
            ok = d <= tol
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {os.path.basename(cand)} vs "
                  f"{os.path.basename(ref.rstrip('/'))}: max |diff| {d:.3g} (tol {tol:g})")
    n = len(sys.argv) - 3
    print(f"cli_logits: {n - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
