"""Tests the chat page served at / in headless Chromium (driven through
chromedriver by the selenium-webdriver npm package): a streamed reply
appears incrementally and equals the API's reply; a screenshot is saved.

usage: test_web.py INFERENCE_PROGRAM SCREENSHOT.png"""
import os
import shutil
import sys

from serverlib import SKIP, Checks, Server, npm_setup, run_node

prog, shot = sys.argv[1], sys.argv[2]
chromium = next((p for p in ("/usr/lib/chromium/chromium", shutil.which("chromium") or "")
                 if p and os.path.exists(p)), None)
driver = shutil.which("chromedriver")
if not chromium or not driver:
    print("SKIP: chromium and chromium-driver are not installed")
    sys.exit(SKIP)
mods = npm_setup()
if not mods:
    sys.exit(SKIP)
T = Checks("server_web_chromium")
here = os.path.dirname(os.path.abspath(__file__))
with Server(prog, "--parallel", "2") as s:
    rc = run_node(os.path.join(here, "web_client.cjs"),
                  {"BASE_URL": s.url, "SHOT": shot, "CHROMIUM": chromium, "CHROMEDRIVER": driver}, mods)
    T.eq(rc, 0, "web_client.cjs exit status")
    T.check(os.path.exists(shot) and os.path.getsize(shot) > 1000, "screenshot written", shot)
    s.stop(T)
T.done()
