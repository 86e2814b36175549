#!/usr/bin/python3
"""Grammar-based differential fuzzing of the template engine against Jinja2:
generates random templates (expressions over variables of every type,
operators, filters, tests, methods, slicing, if/for/set/macro/namespace,
whitespace control) and renders each with Jinja2 (configured as transformers
configures it) and with ours (tmpl_cli).  A case agrees when the outputs are
equal or both fail.  Prints the count and the first differences.

  /usr/bin/python3 scripts/template-diff/diff_random.py [--cases N] [--seed S] [--cli PATH]"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jinja_env import make_env  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

VARS = {
    "s": "Hello World", "e": "", "w": "  a b\tc \n", "u8": "héllo wörld 日本", "n": 3, "z": 0, "neg": -7,
    "f": 2.5, "g": 0.1, "big": 10 ** 12, "l": [1, 2, 3], "ls": ["b", "A", "c", "a"], "le": [],
    "d": {"a": 1, "b": "x", "c": [1, 2]}, "de": {}, "t": True, "fa": False, "nn": None,
    "ms": [{"role": "system", "content": "sys"}, {"role": "user", "content": " hi "},
           {"role": "assistant", "content": "<think>r</think>ok", "x": 1}],
    "nested": {"k": {"m": [10, {"q": "deep"}]}},
}
NAMES = list(VARS) + ["undef"]
STRS = ["'a'", "'Hello'", "\"q'uote\"", "'x\\ny'", "''", "'  pad  '", "'é'", "'a,b,c'", "'</think>'", "'%s'", "'{}'",
        "'\\t'", "'ab' 'cd'"]
FILTERS = [("trim", [""]), ("upper", [""]), ("lower", [""]), ("title", [""]), ("capitalize", [""]),
           ("length", [""]), ("count", [""]), ("first", [""]), ("last", [""]), ("list", [""]), ("string", [""]),
           ("int", [""]), ("float", [""]), ("abs", [""]), ("tojson", ["", "(indent=2)", "(sort_keys=true)"]),
           ("default", ["('dflt')", "('dflt', true)", "(none)"]), ("join", ["", "(', ')", "('-')"]),
           ("replace", ["('l', 'L')", "('a', '')"]), ("items", [""]), ("sort", ["", "(reverse=true)"]),
           ("unique", [""]), ("reverse", [""]), ("sum", [""]), ("min", [""]), ("max", [""]),
           ("round", ["", "(1)"]), ("indent", ["", "(2)", "(2, true)"]), ("map", ["('upper')", "(attribute='role')"]),
           ("selectattr", ["('role', 'equalto', 'user')", "('x')"]), ("rejectattr", ["('role', 'eq', 'user')"]),
           ("select", ["('odd')", ""]), ("reject", ["('even')"]), ("dictsort", [""]), ("wordcount", [""]),
           ("e", [""]), ("safe", [""]), ("center", ["(9)"]), ("batch", ["(2)"])]
TESTS = ["defined", "undefined", "none", "string", "mapping", "iterable", "sequence", "number", "integer", "float",
         "boolean", "true", "false", "odd", "even", "divisibleby 2", "in [1, 2, 'a']", "equalto 3", "eq 'x'",
         "lower", "upper", "callable", "sameas none", "gt 1", "lt 1"]
METHODS = ["strip()", "strip('H')", "lstrip()", "rstrip()", "split()", "split(',')", "split(' ', 1)", "upper()",
           "lower()", "title()", "capitalize()", "startswith('H')", "endswith(('d', 'x'))", "replace('o', '0')",
           "find('o')", "count('l')", "format(1, 2)", "isdigit()", "splitlines()", "rsplit(' ', 1)",
           "items()", "keys()", "values()", "get('a')", "get('zz', 5)", "join(['x', 'y'])"]
BINOPS = ["+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "and", "or"]


def expr(rng, d=0):
    k = rng.randint(0, 13 if d < 3 else 3)
    if k <= 1:
        return rng.choice(NAMES)
    if k == 2:
        return rng.choice(["1", "0", "-2", "2.5", "1e3", "7", "none", "true", "false", "3.0"] + STRS)
    if k == 3:
        return rng.choice(["[1, 'a', none]", "[]", "{'k': 1, 'j': 'v'}", "(1, 2)", "[3, 1, 2]", "{}"])
    if k == 4:
        return "(%s %s %s)" % (expr(rng, d + 1), rng.choice(BINOPS), expr(rng, d + 1))
    if k == 5:
        name, args = rng.choice(FILTERS)
        # filters that return generators in Jinja2 print as '<generator ...>':
        # materialise them so outputs can be compared
        lazy = name in ("map", "select", "reject", "selectattr", "rejectattr", "batch", "items")
        return "%s|%s%s%s" % (atom(rng, d), name, rng.choice(args), "|list" if lazy else "")
    if k == 6:
        return "(%s is %s%s)" % (atom(rng, d), rng.choice(["", "not "]), rng.choice(TESTS))
    if k == 7:
        m = rng.choice(METHODS)
        # dict views print as dict_items([...]) in Python
        return "%s.%s%s" % (atom(rng, d), m, "|list" if m in ("items()", "keys()", "values()") else "")
    if k == 8:
        return "%s[%s]" % (atom(rng, d), rng.choice(["0", "-1", "1", "'a'", "'role'", "1:", ":2", "::-1", "1:-1", "::2", "5"]))
    if k == 9:
        return "%s.%s" % (atom(rng, d), rng.choice(["a", "role", "content", "k", "m", "b", "x"]))
    if k == 10:
        return "(%s if %s else %s)" % (expr(rng, d + 1), expr(rng, d + 1), expr(rng, d + 1))
    if k == 11:
        return "(not %s)" % expr(rng, d + 1)
    if k == 12:
        return "(-%s)" % atom(rng, d)
    return "range(%s)|list" % rng.choice(["3", "1, 4", "5, 0, -2", "n"])


def atom(rng, d):
    e = expr(rng, d + 1)
    return e if e.replace("_", "").isalnum() else "(%s)" % e


def stmt(rng, d=0):
    k = rng.randint(0, 9 if d < 2 else 3)
    ws = lambda: rng.choice(["", "", "-"])  # noqa: E731
    text = rng.choice(["", "x", " ", "\n", "  y\n", "\n  ", "|"])
    if k <= 2:
        return "%s{{%s %s %s}}" % (text, ws(), expr(rng), ws())
    if k == 3:
        return text
    if k == 4:
        return "{%%%s if %s %s%%}%s{%%%s else %s%%}%s{%%%s endif %s%%}" % (
            ws(), expr(rng), ws(), body(rng, d), ws(), ws(), body(rng, d), ws(), ws())
    if k == 5:
        return "{%% for it in %s %%}{{ loop.index }}:{{ it }}{%% if loop.last %%};{%% endif %%}%s{%% else %%}E{%% endfor %%}" % (
            rng.choice(["l", "ls", "s", "d", "ms", "le", "undef", "d.items()", "range(3)"]), body(rng, d))
    if k == 6:
        return "{%% set v = %s %%}{{ v }}" % expr(rng)
    if k == 7:
        return "{%% set ns = namespace(c=0) %%}{%% for it in %s %%}{%% set ns.c = ns.c + 1 %%}{%% endfor %%}{{ ns.c }}" % rng.choice(
            ["l", "ms", "s", "le"])
    if k == 8:
        return "{%% macro mm(a, b='B') %%}[{{ a }}{{ b }}]%s{%% endmacro %%}{{ mm(%s) }}{{ mm(1, b=%s) }}" % (
            body(rng, d), expr(rng), expr(rng))
    return "\n  {%% if %s %%}\n  in\n  {%% endif %%}\n" % expr(rng)


def body(rng, d):
    return "".join(stmt(rng, d + 1) for _ in range(rng.randint(0, 2)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cli", default=os.path.join(ROOT, "build-tmpl", "tests", "template", "tmpl_cli"))
    ap.add_argument("--show", type=int, default=10)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")  # Python's SyntaxWarnings about compiled literals
    rng = random.Random(args.seed)
    env = make_env()
    diffs = both_err = 0
    for i in range(args.cases):
        src = "".join(stmt(rng) for _ in range(rng.randint(1, 3)))
        try:
            jok, jout = True, env.from_string(src).render(messages=[], tools=None, documents=None,
                                                          add_generation_prompt=False, **VARS)
        except Exception as ex:  # noqa: BLE001
            jok, jout = False, "%s: %s" % (type(ex).__name__, ex)
        with tempfile.NamedTemporaryFile("w", suffix=".jinja", delete=False) as f:
            f.write(src)
        case = json.dumps({"messages": [], "add_generation_prompt": False, "extra": VARS})
        p = subprocess.run([args.cli, f.name], input=(case + "\n").encode(), capture_output=True)
        os.unlink(f.name)
        try:
            o = json.loads(p.stdout.decode())
        except ValueError:
            o = {"ok": False, "error": "CRASH rc=%d %s" % (p.returncode, p.stderr.decode()[-500:])}
        if not jok and not o.get("ok") and not o.get("error", "").startswith("CRASH"):
            both_err += 1
            continue
        if jok and o.get("ok") and o.get("text") == jout:
            continue
        diffs += 1
        if diffs <= args.show:
            print("--- difference #%d\ntemplate: %r\njinja2: %r\nours:   %r" % (
                diffs, src, jout, o.get("text") if o.get("ok") else "ERROR " + o.get("error", "")))
    print("random templates: %d rendered, %d failed in both, %d differences" % (args.cases, both_err, diffs))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
