#!/usr/bin/env python3
"""The binding's overhead: tokens per second of `generate` from Python beside
the `inference` program's, on the same model, prompt and token count.

    python3 bindings/python/bench.py [--runs 11] [--max-tokens 1000] \\
        [--cli build/tools/inference/inference] [--model models/brown-llama-8m]

Each round runs the program once (`inference generate --ignore-eos`, output
to /dev/null) and a fresh Python process once (inference.load, then one
generate whose tokens' text is written to /dev/null and flushed, as the
program does), in alternating order so that both see the same machine load
and the same cold start (first touch of the mapped weights, the KV cache).
Process start and model load are left out on both sides.

Figures, each the median over the rounds with its spread (min..max):
  cli       generated tokens / (prefill + decode seconds), from the
            program's summary line (the library's clock)
  python    generated tokens / wall-clock seconds from model.generate() to
            the end of the iteration (everything Python adds included, and
            the stream's admission, which `cli` leaves out)
  python-lib  the same stream's library-measured rate (prefill + decode),
            for comparison with `cli`: the engine's own speed under Python
and the ratio python / cli of the medians (1.00 = no overhead), and the
median of the rounds' own ratios (each round's two runs saw about the same
machine load, so this one is the steadier on a busy machine).  Last, the
binding's own cost per token, free of the machine's noise: a stream is left
to finish in the library, then its 1,000 waiting tokens are read from
Python (TokenStream.__next__ with inf_stream_next, the text decoded, the
Token built), median of 5.
--check exits 1 when python is more than 5% below cli.
--concurrency also times 4 Python threads generating at once against one
at a time (parallel slots at work, the GIL released).
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import inference  # noqa: E402

SUMMARY = re.compile(r"\[(\d+) tokens, prompt (\d+) tokens at ([\d.]+) tok/s, generation "
                     r"([\d.]+) tok/s, ([\d.]+) s")


def default_cli() -> str:
    lib_dir = os.path.dirname(inference.library_path)
    for d in (lib_dir, os.path.join(ROOT, "build")):
        p = os.path.join(d, "tools", "inference", "inference")
        if os.access(p, os.X_OK):
            return p
    return os.path.join(ROOT, "build", "tools", "inference", "inference")


def run_cli(cli: str, model: str, prompt: str, n: int, threads: int) -> float:
    args = [cli, "generate", "-m", model, "--max-tokens", str(n), "--ignore-eos", prompt]
    if threads:
        args[2:2] = ["--threads", str(threads)]
    r = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       check=True)
    m = SUMMARY.search(r.stderr)
    if not m:
        raise SystemExit(f"no summary line from the program: {r.stderr!r}")
    tokens, prompt = int(m.group(1)), int(m.group(2))
    prefill_rate, decode_rate = float(m.group(3)), float(m.group(4))
    if tokens != n:
        raise SystemExit(f"the program generated {tokens} tokens, not {n}")
    # prefill + decode seconds from the two rates (printed to 0.1 tok/s; the
    # total it prints is rounded to 10 ms, too coarse here)
    return tokens / (prompt / prefill_rate + tokens / decode_rate)


def run_python(model: inference.Model, prompt: str, n: int, sink) -> tuple:
    t0 = time.perf_counter()
    s = model.generate(prompt, max_tokens=n, ignore_eos=True)
    count = 0
    for tok in s:
        sink.write(tok.text)
        sink.flush()
        count += 1
    wall = time.perf_counter() - t0
    if count != n:
        raise SystemExit(f"python generated {count} tokens, not {n}")
    met = s.metrics
    return count / wall, count / (met.prefill_seconds + met.decode_seconds)


def run_python_child(a: argparse.Namespace) -> tuple:
    """One round of run_python in a fresh interpreter."""
    args = [sys.executable, os.path.abspath(__file__), "--child", "--model", a.model,
            "--prompt", a.prompt, "--max-tokens", str(a.max_tokens), "--threads",
            str(a.threads)]
    r = subprocess.run(args, stdout=subprocess.PIPE, text=True, check=True)
    wall, lib = r.stdout.split()
    return float(wall), float(lib)


def child(a: argparse.Namespace) -> int:
    with inference.load(a.model, threads=a.threads or None) as m, \
            open(os.devnull, "w", encoding="utf-8") as sink:
        wall, lib = run_python(m, a.prompt, a.max_tokens, sink)
    print(wall, lib)
    return 0


def per_token_cost(path: str, prompt: str, threads: int) -> float:
    """Microseconds Python spends per token on a stream whose tokens are
    already waiting in the library."""
    n, costs = 1000, []
    with inference.load(path, threads=threads or None) as m:
        for _ in range(5):
            s = m.generate(prompt, max_tokens=n, ignore_eos=True)
            while s.metrics.generated_tokens < n:
                time.sleep(0.01)
            time.sleep(0.05)
            t0 = time.perf_counter()
            k = sum(1 for _ in s)
            costs.append((time.perf_counter() - t0) / k * 1e6)
    return statistics.median(costs)


def spread(xs: list) -> str:
    return (f"{statistics.median(xs):8.1f} tok/s  (min {min(xs):.1f}, max {max(xs):.1f}, "
            f"spread {100 * (max(xs) - min(xs)) / statistics.median(xs):.1f}%)")


def concurrency(path: str, prompt: str, n: int, threads: int) -> None:
    prompts = [prompt, "Once upon a time", "In the morning, the", "He asked whether the"]
    with inference.load(path, parallel_slots=4, threads=threads or None) as m:
        for p in prompts:  # warm up
            m.generate(p, max_tokens=8).read()
        t0 = time.perf_counter()
        alone = [[t.id for t in m.generate(p, max_tokens=n, ignore_eos=True)] for p in prompts]
        seq = time.perf_counter() - t0
        got = [None] * 4
        barrier = threading.Barrier(4)

        def worker(i):
            barrier.wait()
            got[i] = [t.id for t in m.generate(prompts[i], max_tokens=n, ignore_eos=True)]

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        par = time.perf_counter() - t0
    print(f"concurrency: 4 x {n} tokens one at a time {4 * n / seq:.1f} tok/s; "
          f"4 Python threads at once {4 * n / par:.1f} tok/s ({seq / par:.2f}x); "
          f"same tokens: {got == alone}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "brown-llama-8m"))
    ap.add_argument("--prompt", default="The jury said")
    ap.add_argument("--max-tokens", type=int, default=1000,
                    help="tokens per run (default 1000: the bundled model's 1024-token "
                    "context less the prompt; longer runs average out a busy machine)")
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--threads", type=int, default=0, help="compute threads (0: one per core)")
    ap.add_argument("--cli", default=None, help="the inference program (default: beside "
                    "the library, else build/)")
    ap.add_argument("--check", action="store_true", help="exit 1 beyond 5%% overhead")
    ap.add_argument("--concurrency", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every round")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a)
    cli = a.cli or default_cli()
    print(f"library {inference.library_path}\nprogram {cli}\nmodel {a.model}, "
          f"{a.max_tokens} tokens, {a.runs} rounds, threads {a.threads or 'one per core'}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    cli_r, py_r, py_lib = [], [], []
    run_python_child(a)  # warm up both (page cache)
    run_cli(cli, a.model, a.prompt, a.max_tokens, a.threads)
    for i in range(a.runs):
        if i % 2:
            py = run_python_child(a)
            c = run_cli(cli, a.model, a.prompt, a.max_tokens, a.threads)
        else:
            c = run_cli(cli, a.model, a.prompt, a.max_tokens, a.threads)
            py = run_python_child(a)
        cli_r.append(c)
        py_r.append(py[0])
        py_lib.append(py[1])
    ratio = statistics.median(py_r) / statistics.median(cli_r)
    print(f"cli         {spread(cli_r)}")
    print(f"python      {spread(py_r)}")
    print(f"python-lib  {spread(py_lib)}")
    print(f"python / cli = {ratio:.3f} ({100 * (ratio - 1):+.1f}%)")
    pairs = sorted(p / c for p, c in zip(py_r, cli_r))
    q = len(pairs) // 4
    print(f"per-round ratio python / cli: median {statistics.median(pairs):.3f}, "
          f"middle half {pairs[q]:.3f}..{pairs[-q - 1]:.3f}")
    if a.verbose:
        for i, (c, p, l) in enumerate(zip(cli_r, py_r, py_lib)):
            print(f"  round {i:2d}: cli {c:7.1f}  python {p:7.1f}  python-lib {l:7.1f}")
    us = per_token_cost(a.model, a.prompt, a.threads)
    print(f"binding cost per token {us:.1f} us = {100 * us * 1e-6 * statistics.median(cli_r):.2f}% "
          f"of a token's time at the program's median rate")
    if a.concurrency:
        concurrency(a.model, a.prompt, a.max_tokens, a.threads)
    if a.check and ratio < 0.95:
        print("python is more than 5% below the program", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
