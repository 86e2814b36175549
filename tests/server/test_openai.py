"""Drives `inference serve` with the official `openai` npm package (a client
no one here wrote): see openai_client.cjs for the checks.

usage: test_openai.py INFERENCE_PROGRAM"""
import os
import sys

from serverlib import GOLDEN, SKIP, Checks, Server, npm_setup, run_node

prog = sys.argv[1]
mods = npm_setup()
if not mods:
    sys.exit(SKIP)
T = Checks("server_openai_npm")
here = os.path.dirname(os.path.abspath(__file__))
with Server(prog, "--parallel", "4") as s, \
        Server(prog, "--parallel", "1", "--api-key", "sk-test-key", "--model-name", "brown") as a:
    rc = run_node(os.path.join(here, "openai_client.cjs"),
                  {"BASE_URL": s.url, "AUTH_URL": a.url, "GOLDEN": GOLDEN}, mods)
    T.eq(rc, 0, "openai_client.cjs exit status")
    s.stop(T)
    a.stop(T)
T.done()
