#!/usr/bin/python3
"""fuzz-hours.py: run the libFuzzer targets for a measured amount of CPU time
each, on a shared machine, and keep a ledger of the hours they have had.

Issue 14 asks that every target run for at least 30 minutes outside CI.
On a 2-core machine shared with builds and benchmarks, a wall-clock limit
(-max_total_time) says little about the fuzzing done, so this script
counts the CPU time the fuzzer process actually used (utime + stime from
/proc/PID/stat) and stops a target (SIGINT: libFuzzer prints its final
statistics) once it has had its share.  The fuzzers run under SCHED_IDLE
(they take only CPU nobody else wants; benchmarks can pause them with
`pkill -STOP -f fuzz-bin/` and resume with `-CONT`: stopped time is not
counted).

Each target keeps a growing corpus in .cache/fuzz-corpus/NAME (seeded from
the committed fuzz/<area>/corpus/NAME), so that runs in several sittings
continue where the last one stopped.  Every run appends one line to the
ledger fuzz/HOURS.tsv (committed): date, target, CPU seconds, executions,
corpus size, result.  `--report` prints the per-target totals.

    scripts/fuzz-hours.py [--minutes 30] [--jobs 2] [--build build-fuzz] [TARGET...]
        tops up each target (default: all built ones) to MINUTES of CPU in
        the ledger, least-fuzzed first
    scripts/fuzz-hours.py --report
    scripts/fuzz-hours.py --merge [TARGET...]
        merges each grown corpus into the committed fuzz/<area>/corpus-full/
        NAME (libFuzzer -merge=1: only inputs that add coverage beyond the
        small seeds and what is there already, none slower than 2 s under
        the sanitizers).  The 5-second runs of scripts/test.sh start from
        the small seeds (fuzz/<area>/corpus/NAME) only: running the full
        corpora once at start-up cost them ~2.5 minutes; the long runs here
        start from both.

A crash keeps its input under BUILD/fuzz-artifacts/ and is recorded as
"crash" in the ledger; the target is not restarted in that sitting.  A
timeout is checked by running its input again alone: libFuzzer's timeout
counts wall-clock time, so a pause longer than 20 minutes reads as a hang;
when the input runs at once the row reads "ok-paused(...)" and the target
goes on with the rest of its time.
Build the targets first: scripts/run-fuzzers.sh 1 (configures build-fuzz
with clang, builds every target, runs each for a second), or, once
configured, cmake --build build-fuzz --target fuzzers.
"""
import argparse
import datetime
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEDGER = os.path.join(ROOT, "fuzz", "HOURS.tsv")
HEADER = "date\ttarget\tcpu_s\texecs\tcorpus_files\tresult\n"
TICK = os.sysconf("SC_CLK_TCK")


def ledger_totals():
    tot = {}
    if not os.path.exists(LEDGER):
        return tot
    with open(LEDGER) as f:
        for i, line in enumerate(f):
            if i == 0 or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            t = tot.setdefault(cols[1], {"cpu_s": 0.0, "execs": 0, "runs": 0, "crashes": 0})
            t["cpu_s"] += float(cols[2])
            t["execs"] += int(cols[3])
            t["runs"] += 1
            t["crashes"] += not (cols[5] == "ok" or cols[5].startswith("ok-"))
    return tot


def append_ledger(row):
    new = not os.path.exists(LEDGER)
    with open(LEDGER, "a") as f:
        if new:
            f.write(HEADER)
        f.write("\t".join(str(c) for c in row) + "\n")


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    except (OSError, IndexError, ValueError):
        return None


def corpus_dir(name):
    d = os.path.join(ROOT, ".cache", "fuzz-corpus", name)
    if not os.path.isdir(d):
        os.makedirs(d)
        for seeds in glob.glob(os.path.join(ROOT, "fuzz", "*", "corpus*", name)):
            for fn in os.listdir(seeds):
                shutil.copy(os.path.join(seeds, fn), d)
    return d


def idle():
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


class Run:
    def __init__(self, build, name, budget):
        self.name, self.budget, self.build = name, budget, build
        self.corpus = corpus_dir(name)
        arts = os.path.join(build, "fuzz-artifacts")
        os.makedirs(arts, exist_ok=True)
        self.log_path = os.path.join(build, f"fuzz-hours-{name}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [os.path.join(build, "fuzz-bin", name), "-print_final_stats=1",
             "-rss_limit_mb=2560", f"-artifact_prefix={arts}/{name}-", self.corpus],
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=idle)
        self.cpu = 0.0
        self.stopping = False

    def poll(self):
        c = cpu_seconds(self.proc.pid)
        if c is not None:
            self.cpu = c
        if not self.stopping and self.cpu >= self.budget:
            self.stopping = True
            self.proc.send_signal(signal.SIGINT)
        return self.proc.poll()

    def finish(self):
        rc = self.proc.wait()
        self.log.close()
        text = open(self.log_path, errors="replace").read()
        m = re.findall(r"stat::number_of_executed_units:\s*(\d+)", text)
        execs = int(m[-1]) if m else 0
        crashed = ("ERROR: libFuzzer" in text or "ERROR: AddressSanitizer" in text
                   or "runtime error:" in text or "SUMMARY:" in text)
        result = "ok" if not crashed and (self.stopping or rc == 0) else f"crash(rc={rc})"
        self.requeue = False
        if crashed and "ERROR: libFuzzer: timeout" in text:
            # libFuzzer's timeout is wall-clock: a pause (SIGSTOP for a
            # benchmark) longer than it reads as a hang.  The saved input
            # is run again alone; if it finishes well within the timeout,
            # the row says so and the target's remaining time is queued.
            m = re.search(r"Test unit written to (\S+)", text)
            if m and os.path.exists(m.group(1)):
                t0 = time.time()
                again = subprocess.run([os.path.join(self.build, "fuzz-bin", self.name), "-timeout=60",
                                        m.group(1)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if again.returncode == 0:
                    result = f"ok-paused(input reran in {time.time() - t0:.1f}s)"
                    self.requeue = True
                    os.rename(m.group(1), m.group(1) + ".false-timeout")
        files = len(os.listdir(self.corpus))
        append_ledger([datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%MZ"), self.name,
                       f"{self.cpu:.0f}", execs, files, result])
        print(f"{self.name}: {self.cpu:.0f} CPU s, {execs} executions, corpus {files} files, {result}",
              flush=True)
        if result != "ok":
            print(f"  log: {self.log_path}", flush=True)


def report():
    tot = ledger_totals()
    print("| target | CPU minutes | executions | runs | crashes |")
    print("|---|---|---|---|---|")
    for name in sorted(tot):
        t = tot[name]
        print(f"| {name} | {t['cpu_s'] / 60:.1f} | {t['execs']:,} | {t['runs']} | {t['crashes']} |")


MERGE_TIMEOUT_S = 2


def merge(build, names):
    for n in names:
        seeds = sorted(glob.glob(os.path.join(ROOT, "fuzz", "*", "corpus", n)))
        grown = os.path.join(ROOT, ".cache", "fuzz-corpus", n)
        if not seeds or not os.path.isdir(grown):
            print(f"{n}: no committed seed folder or no grown corpus; skipped", flush=True)
            continue
        full = os.path.join(os.path.dirname(os.path.dirname(seeds[0])), "corpus-full", n)
        os.makedirs(full, exist_ok=True)
        before = len(os.listdir(full))
        log = os.path.join(build, "fuzz-artifacts", f"{n}-merge.log")
        # the seeds first: what they already cover is not copied again
        tmp = os.path.join(build, "fuzz-artifacts", f"{n}-merge-into")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(seeds[0], tmp)
        for fn in os.listdir(full):
            shutil.copy(os.path.join(full, fn), tmp)
        with open(log, "w") as f:
            rc = subprocess.call([os.path.join(build, "fuzz-bin", n), "-merge=1", f"-timeout={MERGE_TIMEOUT_S}",
                                  "-rss_limit_mb=2560", f"-artifact_prefix={build}/fuzz-artifacts/{n}-merge-",
                                  tmp, grown], stdout=f, stderr=subprocess.STDOUT)
        small = set(os.listdir(seeds[0]))
        for fn in os.listdir(tmp):
            if fn not in small:
                shutil.copy(os.path.join(tmp, fn), full)
        shutil.rmtree(tmp, ignore_errors=True)
        after = len(os.listdir(full))
        print(f"{n}: {before} -> {after} files in {os.path.relpath(full, ROOT)}, rc {rc}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--build", default=os.path.join(ROOT, "build-fuzz"))
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--merge", action="store_true")
    ap.add_argument("targets", nargs="*")
    a = ap.parse_args()
    if a.report:
        report()
        return 0
    built = sorted(os.path.basename(p) for p in glob.glob(os.path.join(a.build, "fuzz-bin", "*")))
    names = a.targets or built
    missing = [n for n in names if n not in built]
    if missing:
        print(f"not built in {a.build}: {' '.join(missing)}", file=sys.stderr)
        return 2
    if a.merge:
        os.makedirs(os.path.join(a.build, "fuzz-artifacts"), exist_ok=True)
        merge(a.build, names)
        return 0
    tot = ledger_totals()
    todo = []
    for n in names:
        left = a.minutes * 60 - tot.get(n, {}).get("cpu_s", 0.0)
        if left > 1:
            todo.append((tot.get(n, {}).get("cpu_s", 0.0), n, left))
    todo.sort()
    running = []
    stop = False

    def on_term(signum, frame):
        nonlocal stop
        stop = True
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    while (todo and not stop) or running:
        while todo and not stop and len(running) < a.jobs:
            _, n, left = todo.pop(0)
            print(f"{n}: {left:.0f} CPU s to go", flush=True)
            running.append(Run(a.build, n, left))
        time.sleep(5)
        for r in list(running):
            if stop and not r.stopping:
                r.stopping = True
                r.proc.send_signal(signal.SIGINT)
            if r.poll() is not None:
                r.finish()
                running.remove(r)
                if r.requeue and not stop and r.budget - r.cpu > 1:
                    todo.append((0.0, r.name, r.budget - r.cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
