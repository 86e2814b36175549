#!/usr/bin/env python3
"""scripts/bench/merge_reps.py on made-up run files: what it merges, what it
moves, and what it refuses.  Usage: test_merge_reps.py PATH/TO/merge_reps.py
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import unittest

SCRIPT = None


def write(d, name, obj):
    with open(os.path.join(d, name), "w") as f:
        json.dump(obj, f)


def read(d, name):
    with open(os.path.join(d, name)) as f:
        return json.load(f)


def ours_run(pp, tg, load=1.0):
    """`inference bench --json` of one repetition (the fields merge_reps
    reads and a few it must carry through)."""
    return {"model": "m", "backend": "cpu", "repetitions": 1,
            "results": [{"threads": 2, "load_seconds": load,
                         "prefill": {"tokens": 512, "median": pp, "min": pp, "max": pp},
                         "decode": {"tokens": 128, "depth": 0, "median": tg, "min": tg, "max": tg}}]}


def llama_run(pp, tg):
    """llama-bench -o json of one repetition: one entry per test."""
    return [{"n_prompt": 512, "n_gen": 0, "n_depth": 0, "samples_ts": [pp], "samples_ns": [1e9 / pp],
             "avg_ts": pp, "stddev_ts": 0.0},
            {"n_prompt": 0, "n_gen": 128, "n_depth": 0, "samples_ts": [tg], "samples_ns": [1e9 / tg],
             "avg_ts": tg, "stddev_ts": 0.0}]


def merge(d, *args):
    return subprocess.run([sys.executable, "-B", SCRIPT, d] + list(args),
                          capture_output=True, text=True)


class MergeReps(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_both_programs(self):
        pp, tg = [200.0, 180.0, 230.0], [50.0, 55.0, 45.0]
        for i in range(3):
            write(self.d, "row.rep%d-ours.json" % (i + 1), ours_run(pp[i], tg[i], load=i + 1.0))
            write(self.d, "row.rep%d-llama.json" % (i + 1), llama_run(pp[i] / 2, tg[i] / 2))
        r = merge(self.d, "row", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        ours = read(self.d, "row-ours.json")
        self.assertEqual(ours["repetitions"], 3)
        res = ours["results"][0]
        self.assertEqual(res["prefill"]["samples"], pp)  # run order kept
        self.assertEqual(res["prefill"]["median"], 200.0)
        self.assertEqual((res["prefill"]["min"], res["prefill"]["max"]), (180.0, 230.0))
        self.assertEqual(res["decode"]["median"], 50.0)
        self.assertEqual(res["decode"]["depth"], 0)  # the phase's other fields carried
        self.assertEqual(res["load_seconds"], 2.0)
        llama = read(self.d, "row-llama.json")
        self.assertEqual(llama[0]["samples_ts"], [100.0, 90.0, 115.0])
        self.assertAlmostEqual(llama[0]["avg_ts"], statistics.mean([100.0, 90.0, 115.0]))
        self.assertAlmostEqual(llama[1]["stddev_ts"], statistics.stdev([25.0, 27.5, 22.5]))
        # the single runs are kept, moved aside
        kept = sorted(os.listdir(os.path.join(self.d, "reps")))
        self.assertEqual(len(kept), 6)
        self.assertFalse([f for f in os.listdir(self.d) if ".rep" in f])

    def test_ours_only(self):
        """The mlx phase: an MLX model against a GGUF file, ours both."""
        for i, v in enumerate([30.0, 28.0, 33.0, 29.0, 31.0]):
            write(self.d, "mlx.rep%d-ours.json" % (i + 1), ours_run(130.0 + i, v))
        r = merge(self.d, "mlx", "5", "ours")
        self.assertEqual(r.returncode, 0, r.stderr)
        res = read(self.d, "mlx-ours.json")["results"][0]
        self.assertEqual(res["decode"]["median"], 30.0)
        self.assertEqual(res["prefill"]["samples"], [130.0, 131.0, 132.0, 133.0, 134.0])
        self.assertFalse(os.path.exists(os.path.join(self.d, "mlx-llama.json")))

    def test_missing_run_is_an_error(self):
        """A merged row must hold every repetition it claims."""
        write(self.d, "row.rep1-ours.json", ours_run(200.0, 50.0))
        r = merge(self.d, "row", "2", "ours")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("row.rep2-ours.json", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.d, "row-ours.json")))
        self.assertTrue(os.path.exists(os.path.join(self.d, "row.rep1-ours.json")))  # not moved

    def test_nothing_written_unless_all_merge(self):
        """llama-bench's runs complete, one of ours missing: neither merged."""
        for i in range(2):
            write(self.d, "row.rep%d-llama.json" % (i + 1), llama_run(100.0, 25.0))
        write(self.d, "row.rep1-ours.json", ours_run(200.0, 50.0))
        r = merge(self.d, "row", "2")
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(sorted(os.listdir(self.d)),
                         ["row.rep1-llama.json", "row.rep1-ours.json", "row.rep2-llama.json"])

    def test_unreadable_run_is_an_error(self):
        write(self.d, "row.rep1-ours.json", ours_run(200.0, 50.0))
        with open(os.path.join(self.d, "row.rep2-ours.json"), "w") as f:
            f.write("{not json")
        r = merge(self.d, "row", "2", "ours")
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(self.d, "row-ours.json")))

    def test_llama_runs_must_agree(self):
        write(self.d, "row.rep1-llama.json", llama_run(100.0, 25.0))
        other = llama_run(100.0, 25.0)
        other[1]["n_gen"] = 64
        write(self.d, "row.rep2-llama.json", other)
        r = merge(self.d, "row", "2", "llama")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("differ", r.stderr)

    def test_usage(self):
        for args in ([], ["row"], ["row", "2", "vllm"]):
            r = merge(self.d, *args)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn("usage", r.stderr)
        for reps in ("0", "five"):
            r = merge(self.d, "row", reps, "ours")
            self.assertNotEqual(r.returncode, 0, reps)
            self.assertIn("REPS", r.stderr)
            self.assertNotIn("Traceback", r.stderr)


if __name__ == "__main__":
    SCRIPT = sys.argv.pop(1)
    unittest.main(verbosity=2)
