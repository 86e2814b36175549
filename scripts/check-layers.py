#!/usr/bin/env python3
"""Checks every `#include "..."` under include/, src/ and tools/ against the
layering written in layers.txt (the authority; see its header for the
format).  Prints one line per violation,

    FILE:LINE: includes X, layer A may not depend on layer B

and exits 1 when there is any, 2 when the rules file is malformed, 0 when
the tree keeps to the rules.

    scripts/check-layers.py [--root DIR] [--rules FILE]
    scripts/check-layers.py --self-test

--self-test builds a small tree in a temporary folder, with deliberately
wrong includes, and checks that this script finds exactly those (against
the real rules file).  Python 3 standard library only.
"""
import argparse
import os
import re
import shutil
import sys
import tempfile

CHECKED = ("include/", "src/", "tools/")
SOURCE_EXT = (".c", ".h", ".cc", ".cpp", ".hpp", ".cu", ".cuh")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


class RulesError(Exception):
    pass


class Rules:
    def __init__(self):
        self.layers = {}    # name -> set of allowed layer names
        self.paths = []     # (path, name), longest first
        self.allow = {}     # name -> set of extra files
        self.search = []    # (path, [dirs]), longest first

    def layer_of(self, rel):
        for p, name in self.paths:
            if (p.endswith("/") and rel.startswith(p)) or rel == p:
                return name
        return None

    def search_of(self, rel):
        for p, dirs in self.search:
            if rel.startswith(p):
                return dirs
        return []


def parse_rules(path):
    r = Rules()
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise RulesError(f"{path}: {e.strerror}")
    with f:
        for no, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].split()
            if not line:
                continue
            where = f"{path}:{no}"
            kind, rest = line[0], line[1:]
            if kind == "layer":
                if ":" not in rest or len(rest) < 3 or rest.index(":") < 2:
                    raise RulesError(f"{where}: expected `layer NAME PATH... : LAYER...`")
                c = rest.index(":")
                name, paths, deps = rest[0], rest[1:c], rest[c + 1:]
                if name in r.layers:
                    raise RulesError(f"{where}: layer {name} defined twice")
                r.layers[name] = set(deps)
                for p in paths:
                    if any(p == q for q, _ in r.paths):
                        raise RulesError(f"{where}: path {p} is in two layers")
                    r.paths.append((p, name))
            elif kind == "allow":
                if len(rest) != 2:
                    raise RulesError(f"{where}: expected `allow NAME FILE`")
                r.allow.setdefault(rest[0], set()).add(rest[1])
            elif kind == "search":
                if len(rest) < 2:
                    raise RulesError(f"{where}: expected `search PATH DIR...`")
                r.search.append((rest[0], [d.rstrip("/") + "/" for d in rest[1:]]))
            else:
                raise RulesError(f"{where}: unknown directive {kind}")
    for name, deps in r.layers.items():
        for d in deps:
            if d not in r.layers:
                raise RulesError(f"{path}: layer {name} may include unknown layer {d}")
    for name in r.allow:
        if name not in r.layers:
            raise RulesError(f"{path}: allow for unknown layer {name}")
    # The arrows between different layers must not form a cycle: a layering,
    # not a web.
    state = {}

    def visit(n, trail):
        state[n] = 1
        for d in sorted(r.layers[n]):
            if d == n:
                continue
            if state.get(d) == 1:
                raise RulesError(f"{path}: cycle {' -> '.join(trail + [n, d])}")
            if d not in state:
                visit(d, trail + [n])
        state[n] = 2

    for n in r.layers:
        if n not in state:
            visit(n, [])
    r.paths.sort(key=lambda t: -len(t[0]))
    r.search.sort(key=lambda t: -len(t[0]))
    return r


def source_files(root):
    for top in CHECKED:
        base = os.path.join(root, top)
        for d, dirs, files in os.walk(base):
            dirs.sort()
            for fn in sorted(files):
                if fn.endswith(SOURCE_EXT):
                    full = os.path.join(d, fn)
                    yield os.path.relpath(full, root).replace(os.sep, "/")


def resolve(root, rules, rel, inc):
    """The repository path `inc` names when included from `rel`, and whether
    it was found on the file's own include path (else: found only by
    looking in the other checked roots, or None)."""
    def exists(cand):
        cand = os.path.normpath(cand).replace(os.sep, "/")
        if cand.startswith("../") or os.path.isabs(cand):
            return None
        return cand if os.path.isfile(os.path.join(root, cand)) else None

    own = [os.path.dirname(rel) + "/"] + rules.search_of(rel)
    for d in own:
        hit = exists(d + inc)
        if hit:
            return hit, True
    others = []
    for _, dirs in rules.search:
        others += [d for d in dirs if d not in own and d not in others]
    for d in others:
        hit = exists(d + inc)
        if hit:
            return hit, False
    return None, False


def check(root, rules, out):
    n = 0
    for rel in source_files(root):
        layer = rules.layer_of(rel)
        if layer is None:
            print(f"{rel}:1: is in no layer of the rules file", file=out)
            n += 1
            continue
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
        for no, line in enumerate(lines, 1):
            m = INCLUDE_RE.match(line)
            if not m:
                continue
            inc = m.group(1)
            target, on_path = resolve(root, rules, rel, inc)
            if target is None:
                continue  # not in the tree (a generated file): nothing to say
            to = rules.layer_of(target)
            if to is None:
                print(f"{rel}:{no}: includes {inc}, layer {layer} may not depend "
                      f"on {target} (in no layer)", file=out)
                n += 1
            elif to not in rules.layers[layer] and target not in rules.allow.get(layer, ()):
                print(f"{rel}:{no}: includes {inc}, layer {layer} may not depend "
                      f"on layer {to}", file=out)
                n += 1
            elif not on_path:
                print(f"{rel}:{no}: includes {inc}, found only as {target}, "
                      f"outside layer {layer}'s include path", file=out)
                n += 1
    return n


def self_test(rules_path):
    """A temporary tree with known good and bad includes."""
    rules = parse_rules(rules_path)
    files = {
        "include/inference.h": "",
        "include/inference_backend.h": '#include "inference.h"\n',
        "src/core/error.h": '#include "inference.h"\n',
        "src/core/x.c": '#include "core/error.h"\n#include "engine/engine.h"\n',
        "src/model/model.h": '#include "core/error.h"\n#include "text/tokenizer/tokenizer.h"\n',
        "src/text/tokenizer/tokenizer.h": '#include "core/error.h"\n',
        "src/text/template/t.c": '#include "text/tokenizer/tokenizer.h"\n',
        "src/engine/engine.h": '#include "inference_backend.h"\n#include "model/model.h"\n',
        "src/engine/e.c": '#include "engine.h"\n#include "backends/cpu/cpu.h"\n',
        "src/backends/cpu/cpu.h": '#include "engine/engine.h"\n',
        "src/backends/cuda/k.cuh": "",
        "src/backends/cuda/c.cu": ('#include "k.cuh"\n#include "backends/cpu/cpu.h"\n'
                                   '#include "generated.h"\n'),
        "src/remote/client.h": '#include "core/error.h"\n',
        "src/remote/r.c": '#include "client.h"\n#include "engine/engine.h"\n',
        "src/backends/openai/openai.h": '#include "remote/client.h"\n',
        "src/backends/llama_cpp/l.c": ('#include "remote/client.h"\n'
                                      '#include "backends/openai/openai.h"\n'),
        "src/backends/builtin.c": '#include "backends/cpu/cpu.h"\n#include "backends/openai/openai.h"\n',
        "src/backends/stray.h": "",
        "tools/server/server.h": '#include "inference.h"\n#include "inference/commands.h"\n',
        "tools/inference/commands.h": '#include "server/server.h"\n',
        "tools/inference/c.c": ('#include "commands.h"\n#include "text/tokenizer/tokenizer.h"\n'
                                '#include "../../src/core/error.h"\n'),
        "tests/t.c": '#include "backends/cpu/cpu.h"\n',
    }
    expected = [
        "src/backends/cuda/c.cu:2: includes backends/cpu/cpu.h, layer cuda may not depend on layer cpu",
        "src/backends/llama_cpp/l.c:2: includes backends/openai/openai.h, layer llama_cpp may not depend on layer openai",
        "src/backends/stray.h:1: is in no layer of the rules file",
        "src/core/x.c:2: includes engine/engine.h, layer core may not depend on layer engine",
        "src/engine/e.c:2: includes backends/cpu/cpu.h, layer engine may not depend on layer cpu",
        "src/remote/r.c:2: includes engine/engine.h, layer remote may not depend on layer engine",
        "src/model/model.h:2: includes text/tokenizer/tokenizer.h, layer model may not depend on layer tokenizer",
        "src/text/template/t.c:1: includes text/tokenizer/tokenizer.h, layer template may not depend on layer tokenizer",
        "tools/inference/c.c:2: includes text/tokenizer/tokenizer.h, layer cli may not depend on layer tokenizer",
        "tools/inference/c.c:3: includes ../../src/core/error.h, layer cli may not depend on layer core",
        "tools/server/server.h:2: includes inference/commands.h, layer server may not depend on layer cli",
    ]
    tmp = tempfile.mkdtemp(prefix="check-layers-")
    try:
        for rel, text in files.items():
            p = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w", encoding="utf-8") as f:
                f.write(text)
        import io
        buf = io.StringIO()
        n = check(tmp, rules, buf)
        got = sorted(buf.getvalue().splitlines())
    finally:
        shutil.rmtree(tmp)
    ok = got == sorted(expected) and n == len(expected)
    if not ok:
        print("check-layers self-test FAILED", file=sys.stderr)
        for line in sorted(set(expected) - set(got)):
            print(f"  missing:    {line}", file=sys.stderr)
        for line in sorted(set(got) - set(expected)):
            print(f"  unexpected: {line}", file=sys.stderr)
        return 1
    # A malformed rules file is refused, not silently accepted.
    for bad in ("layer a src/ : b\n", "layer a src/ : a\nlayer b x/ : b a\nlayer c y/ : c\n"
                "layer a2 z/ : a2 b\nlayer b2 w/ : b2 a2\nallow zz q.h\n",
                "layer a src/ : a b\nlayer b x/ : b a\n"):
        fd, p = tempfile.mkstemp(suffix=".txt")
        with os.fdopen(fd, "w") as f:
            f.write(bad)
        try:
            parse_rules(p)
            print(f"check-layers self-test FAILED: accepted rules {bad!r}", file=sys.stderr)
            return 1
        except RulesError:
            pass
        finally:
            os.unlink(p)
    print(f"check-layers self-test: ok ({len(expected)} planted violations found, "
          f"no false ones)")
    return 0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.dirname(here),
                    help="repository root (default: this script's ..)")
    ap.add_argument("--rules", help="rules file (default: ROOT/layers.txt)")
    ap.add_argument("--self-test", action="store_true",
                    help="check the checker on a planted tree")
    a = ap.parse_args()
    rules_path = a.rules or os.path.join(a.root, "layers.txt")
    try:
        if a.self_test:
            return self_test(rules_path)
        rules = parse_rules(rules_path)
    except RulesError as e:
        print(f"check-layers: {e}", file=sys.stderr)
        return 2
    n = check(a.root, rules, sys.stdout)
    if n:
        print(f"check-layers: {n} include(s) break the layering in "
              f"{a.rules or 'layers.txt'}", file=sys.stderr)
        return 1
    print("check-layers: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
