#!/usr/bin/env python3
"""merge_reps.py — join one-repetition runs into one result per program.

bench-vs-llama.sh (ALTERNATE=1) runs llama-bench and `inference bench` with
-r 1, one after the other, REPS times per row, so that a busy minute of the
shared machine falls on both programs alike rather than on one program's
five repetitions.  Each run leaves NAME.repI-llama.json / NAME.repI-ours.json;
this script writes the NAME-llama.json / NAME-ours.json that
scripts/bench/summarize.py reads, as if each program had run -r REPS:

  llama-bench: each test's samples_ts / samples_ns concatenated in run order,
               avg_* and stddev_* recomputed from them;
  ours:        each phase's median/min/max recomputed over the runs' values
               (with -r 1 a run's median is its one value), the values kept
               in "samples" in run order; load_seconds is the median.

Usage: merge_reps.py OUT_DIR NAME REPS [PROGRAM...]
PROGRAM is llama or ours (default: both); the mlx phase, ours against ours
(an MLX model and a GGUF file in turn), merges only ours.
The per-run files are moved to OUT_DIR/reps/ (kept: the raw record).
A missing or unreadable run file is an error: a merged row must have all
its repetitions, or it would silently report fewer than it claims.
"""
import json
import os
import statistics
import sys


def fail(msg):
    sys.stderr.write("merge_reps.py: %s\n" % msg)
    sys.exit(1)


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        fail("%s: %s" % (path, e))


def merge_llama(runs):
    out = None
    key = lambda x: (x.get("n_prompt"), x.get("n_gen"), x.get("n_depth"))
    for run in runs:
        if not isinstance(run, list):
            fail("llama-bench output is not a list of tests")
        if out is None:
            out = [dict(t) for t in run]
            continue
        if len(run) != len(out):
            fail("llama-bench runs differ in their tests")
        for t, r in zip(out, run):
            if key(t) != key(r):
                fail("llama-bench runs differ in their tests")
            t["samples_ts"] = t.get("samples_ts", []) + r.get("samples_ts", [])
            t["samples_ns"] = t.get("samples_ns", []) + r.get("samples_ns", [])
    for t in out:
        for unit in ("ts", "ns"):
            v = t.get("samples_" + unit) or []
            if v:
                t["avg_" + unit] = statistics.mean(v)
                t["stddev_" + unit] = statistics.stdev(v) if len(v) > 1 else 0.0
    return out


def merge_ours(runs):
    out = dict(runs[0])
    out["repetitions"] = len(runs)
    results = []
    for i, first in enumerate(runs[0].get("results") or []):
        r = dict(first)
        for phase in ("prefill", "decode", "batch_prefill", "batch_decode"):
            if phase not in first:
                continue
            vals = []
            for run in runs:
                try:
                    vals.append(run["results"][i][phase]["median"])
                except (KeyError, IndexError, TypeError):
                    fail("run lacks results[%d].%s" % (i, phase))
            p = dict(first[phase])
            p.update(median=statistics.median(vals), min=min(vals), max=max(vals),
                     samples=vals)
            r[phase] = p
        loads = [run["results"][i].get("load_seconds") for run in runs]
        if all(isinstance(x, (int, float)) for x in loads):
            r["load_seconds"] = statistics.median(loads)
        results.append(r)
    out["results"] = results
    return out


def main():
    merges = {"llama": merge_llama, "ours": merge_ours}
    if len(sys.argv) < 4 or any(p not in merges for p in sys.argv[4:]):
        fail("usage: merge_reps.py OUT_DIR NAME REPS [llama|ours ...]")
    d, name = sys.argv[1], sys.argv[2]
    try:
        reps = int(sys.argv[3])
    except ValueError:
        reps = 0
    if reps < 1:
        fail("REPS must be a whole number of at least 1, not %r" % sys.argv[3])
    progs = sys.argv[4:] or ["llama", "ours"]
    # Every program's runs read and merged before anything is written or
    # moved: a missing run leaves the directory as it was.
    done = []
    for prog in progs:
        paths = [os.path.join(d, "%s.rep%d-%s.json" % (name, i, prog))
                 for i in range(1, reps + 1)]
        done.append((prog, paths, merges[prog]([load(p) for p in paths])))
    os.makedirs(os.path.join(d, "reps"), exist_ok=True)
    for prog, paths, merged in done:
        tmp = os.path.join(d, ".%s-%s.json.tmp" % (name, prog))
        with open(tmp, "w") as f:
            json.dump(merged, f, indent=1)
            f.write("\n")
        os.replace(tmp, os.path.join(d, "%s-%s.json" % (name, prog)))
        for p in paths:
            os.replace(p, os.path.join(d, "reps", os.path.basename(p)))


if __name__ == "__main__":
    main()
