#!/usr/bin/env python3
"""summarize.py — markdown tables from the JSON that scripts/bench-vs-llama.sh
writes (llama-bench -o json and `inference bench --json`).

    /usr/bin/python3 scripts/bench/summarize.py bench/results > summary.md

Figures are median [min-max] tokens/s over the repetitions.  The decode
bound is BOUND_GBPS (20 GB/s, the issue's figure) divided by the weight
bytes of each program's own model (llama-bench's model_size; our
weight_bytes), since one decoded token reads every weight once (the
embedding table too: both shapes tie it to the output projection).
"""
import glob
import json
import os
import statistics
import sys

BOUND_GBPS = 20.0
ISSUE = {  # the issue's llama.cpp reference figures (mean of 5, 2 threads)
    ("qwen3-0.6b", "BF16"): (87, 12.7), ("qwen3-0.6b", "F16"): (113, 13.4),
    ("qwen3-0.6b", "Q8_0"): (83, 20.6), ("qwen3-0.6b", "Q4_0"): (110, 33.2),
    ("llama-3.2-1b", "BF16"): (49, 6.3), ("llama-3.2-1b", "Q8_0"): (43, 9.5),
    ("llama-3.2-1b", "Q4_0"): (53, 16.7),
}
OURS_FMT = {"BF16": "BF16", "F16": "F16", "Q8_0": "MLX8 g64", "Q4_0": "MLX4 g64"}


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def result_files(d, pattern):
    """The result files in d matching pattern, sorted; not the one-repetition
    files of an alternated run that merge_reps.py has not joined yet (an
    interrupted run leaves them beside the merged ones)."""
    return sorted(f for f in glob.glob(os.path.join(d, pattern))
                  if ".rep" not in os.path.basename(f))


def s3(v):
    return (statistics.median(v), min(v), max(v)) if v else None


def fmt(s):
    if not s:
        return "—"
    return "%.1f [%.1f-%.1f]" % s


def llama_tests(j):
    """{'pp': stat, 'tg': stat, 'bytes': model_size, 'depth': n}."""
    out = {}
    for t in j or []:
        st = s3(t.get("samples_ts") or [])
        if t.get("n_prompt", 0) > 0 and t.get("n_gen", 0) == 0:
            out["pp"] = st
        elif t.get("n_gen", 0) > 0:
            out["tg"] = st
        out["bytes"] = t.get("model_size")
        out["commit"] = t.get("build_commit")
        out["cpu"] = t.get("cpu_info")
    return out


def ours_tests(j, i=0):
    if not j or not j.get("results"):
        return {}
    r = j["results"][i]
    g = lambda k: (r[k]["median"], r[k]["min"], r[k]["max"]) if k in r else None
    return {"pp": g("prefill"), "tg": g("decode"), "bpp": g("batch_prefill"),
            "btg": g("batch_decode"), "bytes": j["model"]["weight_bytes"],
            "rss": r.get("peak_rss_bytes"), "load": r.get("load_seconds")}


def ratio(a, b):
    return "%.2fx" % (a[0] / b[0]) if a and b and b[0] else "—"


def pct(tg, nbytes, gbps=BOUND_GBPS):
    if not tg or not nbytes or not gbps:
        return "—"
    return "%.0f%%" % (100.0 * tg[0] * nbytes / (gbps * 1e9))


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "bench/results"
    p = print
    mf = os.path.join(d, "machine.txt")  # bench-vs-llama.sh's record of the machine
    if os.path.exists(mf):
        with open(mf) as f:
            p("Machine: " + "; ".join(l.strip() for l in f if l.strip()) + "\n")
    bw = {t: load(os.path.join(d, "membw-t%d.json" % t)) for t in (1, 2)}
    if any(bw.values()):
        p("Memory read bandwidth (scripts/bench/membw.c, streaming sum over 1 GiB, "
          "GB/s median [min-max] of 10 passes):\n")
        for t in (1, 2):
            if bw[t]:
                p("- %d thread%s: %.1f [%.1f-%.1f]" % (t, "s" if t > 1 else "",
                  bw[t]["gbps_median"], bw[t]["gbps_min"], bw[t]["gbps_max"]))
        p()

    # The bandwidth this run measured with 2 threads: the bound that holds
    # for this machine at the time (the issue's 20 GB/s may not).
    mbw = bw[2]["gbps_median"] if bw.get(2) else None
    p("| shape | llama.cpp / ours | weight MB (llama / ours) | prefill 512 llama.cpp | "
      "prefill 512 ours | ours/llama | decode 128 llama.cpp | decode 128 ours | "
      "ours/llama | bound @%g GB/s (ours) | %% of bound llama / ours | "
      "%% of measured %s GB/s llama / ours | row's own GB/s: ours %% of it | issue's llama.cpp pp / tg |"
      % (BOUND_GBPS, "%.1f" % mbw if mbw else "—"))
    p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for f in sorted(result_files(d, "main-*-llama.json"),
                    key=lambda x: (("llama" in os.path.basename(x)[5:10]),
                                   list(ISSUE).index(key_of(x)) if key_of(x) in ISSUE else 99)):
        shape, ttype = key_of(f)
        L = llama_tests(load(f))
        oj = load(f.replace("-llama.json", "-ours.json"))
        O = ours_tests(oj)
        bound = BOUND_GBPS * 1e9 / O["bytes"] if O.get("bytes") else None
        iss = ISSUE.get((shape, ttype))
        same = str((oj or {}).get("model", {}).get("path", "")).endswith(".gguf")
        # the bandwidth measured between the row's two runs (phase main)
        rbw = (load(f.replace("-llama.json", "-membw.json")) or {}).get("gbps_median")
        p("| %s | %s / %s | %s / %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s | %s |" % (
            shape, ttype, "same file" if same else OURS_FMT.get(ttype, ttype),
            "%.0f" % (L["bytes"] / 1e6) if L.get("bytes") else "—",
            "%.0f" % (O["bytes"] / 1e6) if O.get("bytes") else "—",
            fmt(L.get("pp")), fmt(O.get("pp")), ratio(O.get("pp"), L.get("pp")),
            fmt(L.get("tg")), fmt(O.get("tg")), ratio(O.get("tg"), L.get("tg")),
            "%.1f" % bound if bound else "—",
            pct(L.get("tg"), L.get("bytes")), pct(O.get("tg"), O.get("bytes")),
            pct(L.get("tg"), L.get("bytes"), mbw), pct(O.get("tg"), O.get("bytes"), mbw),
            "%.1f: %s" % (rbw, pct(O.get("tg"), O.get("bytes"), rbw)) if rbw else "—",
            "%g / %g" % iss if iss else "—"))
    p()

    opt = []
    for f in result_files(d, "exact-*-ours.json"):
        base = os.path.basename(f)[len("exact-"):-len("-ours.json")]
        X = ours_tests(load(f))
        L = llama_tests(load(os.path.join(d, "main-%s-llama.json" % base)))
        F = ours_tests(load(os.path.join(d, "main-%s-ours.json" % base)))
        opt.append((base, L, X, F))
    if opt:
        p("| row | prefill 512 llama.cpp | ours exact | ours fast | fast / llama | "
          "decode 128 llama.cpp | ours exact | ours fast | fast / llama |")
        p("|---|---|---|---|---|---|---|---|---|")
        for base, L, X, F in opt:
            p("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                base, fmt(L.get("pp")), fmt(X.get("pp")), fmt(F.get("pp")),
                ratio(F.get("pp"), L.get("pp")), fmt(L.get("tg")), fmt(X.get("tg")),
                fmt(F.get("tg")), ratio(F.get("tg"), L.get("tg"))))
        p()

    extra = []
    for f in result_files(d, "t1-*-llama.json"):
        L = llama_tests(load(f))
        O = ours_tests(load(f.replace("-llama.json", "-ours.json")))
        extra.append(("1 thread, %s" % os.path.basename(f)[3:-11], L, O))
    for dep in (100, 2000):
        for f in result_files(d, "depth%d-*-llama.json" % dep):
            L = llama_tests(load(f))
            O = ours_tests(load(f.replace("-llama.json", "-ours.json")))
            extra.append(("decode after %d tokens, %s" % (
                dep, os.path.basename(f)[len("depth%d-" % dep):-11]), L, O))
    for f in result_files(d, "poll0-*-llama.json"):
        L = llama_tests(load(f))
        O = ours_tests(load(f.replace("-llama.json", "-ours.json")))
        extra.append(("decode, llama-bench --poll 0 (no busy-wait), %s" % os.path.basename(f)[6:-11], L, O))
    if extra:
        p("| test | prefill llama.cpp | prefill ours | ours/llama (prefill) | decode llama.cpp | "
          "decode ours | ours/llama (decode) |")
        p("|---|---|---|---|---|---|---|")
        for name, L, O in extra:
            depth = name.startswith("decode")
            p("| %s | %s | %s | %s | %s | %s | %s |" % (
                name, "—" if depth else fmt(L.get("pp")), "—" if depth else fmt(O.get("pp")),
                "—" if depth else ratio(O.get("pp"), L.get("pp")),
                fmt(L.get("tg")), fmt(O.get("tg")), ratio(O.get("tg"), L.get("tg"))))
        p()

    # mlx phase: MLX safetensors (--dummy, same shape and bits) vs the GGUF
    # file of equal bits, both ours.
    mlx = result_files(d, "mlx-t*-ours.json")
    if mlx:
        p("| threads, shape | MLX format / GGUF type | prefill 512 MLX | prefill 512 GGUF | MLX/GGUF | "
          "decode 128 MLX | decode 128 GGUF | MLX/GGUF |")
        p("|---|---|---|---|---|---|---|---|")
        for f in mlx:
            base = os.path.basename(f)[len("mlx-"):-len("-ours.json")]
            t, rest = base.split("-", 1)
            shape, ttype = rest.rsplit("-", 1)
            M = ours_tests(load(f))
            G = ours_tests(load(os.path.join(d, "gguf-%s-ours.json" % base)))
            p("| %s, %s | %s / %s | %s | %s | %s | %s | %s | %s |" % (
                t[1:], shape, OURS_FMT.get(ttype, ttype), ttype, fmt(M.get("pp")), fmt(G.get("pp")),
                ratio(M.get("pp"), G.get("pp")), fmt(M.get("tg")), fmt(G.get("tg")),
                ratio(M.get("tg"), G.get("tg"))))
        p()

    # depthbefore phase: one repetition per file, alternated before/after.
    runs = {}
    for f in result_files(d, "*-d2000-t*-ours.json"):
        base = os.path.basename(f)[:-len("-ours.json")]
        which, _, t, i, rest = base.split("-", 4)
        O = ours_tests(load(f))
        if O.get("tg"):
            runs.setdefault((t, rest), {}).setdefault(which, []).append(O["tg"][0])
    if runs:
        p("| threads, row | decode 128 after 2,000 tokens, before (tok/s) | after | after/before |")
        p("|---|---|---|---|")
        for (t, rest), w in sorted(runs.items()):
            b, a = s3(w.get("before", [])), s3(w.get("after", []))
            p("| %s, %s | %s | %s | %s |" % (t[1:], rest, fmt(b), fmt(a), ratio(a, b)))
        p()

    rows = []
    for b in (1, 4, 16):
        for f in result_files(d, "batch%d-*-ours.json" % b):
            O = ours_tests(load(f))
            j = load(f) or {}
            r = (j.get("results") or [{}])[0]
            tok = "p%s/n%s" % (r.get("prefill", {}).get("tokens"), r.get("decode", {}).get("tokens"))
            if b == 1:
                rows.append((b, tok, O.get("pp"), O.get("tg"), None, None))
            else:
                rows.append((b, tok, O.get("bpp"), O.get("btg"), O.get("pp"), O.get("tg")))
    if rows:
        p("| streams | tokens per stream | prefill-only (Classify-like) tok/s, aggregate | "
          "decode (BatchGenerate) tok/s, aggregate | 1 stream in the same run: prefill / decode |")
        p("|---|---|---|---|---|")
        for b, tok, pp, tg, pp1, tg1 in rows:
            p("| %d | %s | %s | %s | %s |" % (b, tok, fmt(pp), fmt(tg),
              "%s / %s" % (fmt(pp1), fmt(tg1)) if pp1 else "(this row)"))
        p()


def key_of(path):
    base = os.path.basename(path)[len("main-"):-len("-llama.json")]
    shape, ttype = base.rsplit("-", 1)
    return shape, ttype


if __name__ == "__main__":
    main()
