#!/usr/bin/python3
"""Checks that the expectations in tests/template/engine_cases.json (written
by hand from Jinja2's documented behaviour) are what Jinja2 itself, set up as
transformers sets it up, produces.  Run with /usr/bin/python3 (python3-jinja2).
  scripts/template-diff/check_engine_cases.py [cases.json]"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jinja_env import make_env, render  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "tests", "template", "engine_cases.json")
env = make_env()
bad = 0
cases = json.load(open(path))
for c in cases:
    ok, text = render(env, c["template"], [], False, extra=c["vars"])
    if "error" in c:
        want_msg = c["error"] if isinstance(c["error"], str) else None
        good = (not ok) and (want_msg is None or text.endswith(": " + want_msg))
    else:
        good = ok and text == c["expect"]
    if not good:
        bad += 1
        print("MISMATCH %s: jinja2 gives %r, case expects %r" % (c["name"], text, c.get("expect", c.get("error"))))
print("%d cases, %d mismatches" % (len(cases), bad))
sys.exit(1 if bad else 0)
