#!/usr/bin/env python3
"""Tests that run the `inference` program itself and compare what it prints
with the reference outputs in tests/fixtures (Hugging Face transformers /
tokenizers) and with the library's own greedy tokens.

usage: cli_test.py BIN ROOT GROUP [ARG]
  BIN    the built inference program
  ROOT   the source tree (models/, tests/fixtures/)
  GROUP  generate | logits | perplexity | tokenize NAME | tokenize-gguf |
         template NAME | errors | misc | chat-tmux
Prints each failure and "N passed, N failed"; exits 1 on any failure, 77
(CTest SKIP_RETURN_CODE) when something the group needs is missing.
Standard library only."""
import array
import json
import re
import os
import shutil
import subprocess
import sys
import tempfile
import time

BIN, ROOT, GROUP = sys.argv[1], sys.argv[2], sys.argv[3]
ARG = sys.argv[4] if len(sys.argv) > 4 else None
FIX = os.path.join(ROOT, "tests", "fixtures")
BROWN = os.path.join(ROOT, "models", "brown-llama-8m")
CACHE = os.environ.get("INF_TEST_CACHE", os.path.join(ROOT, ".cache"))

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what, flush=True)
    return cond


def run(args, stdin=b"", timeout=300):
    """Runs the program; returns (rc, stdout bytes, stderr text)."""
    p = subprocess.run([BIN] + args, input=stdin, capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def run_ok(args, stdin=b"", what=None):
    rc, out, err = run(args, stdin)
    check(rc == 0, "%s: exit %d, stderr: %s" % (what or " ".join(args[:3]), rc, err.strip()))
    return out


def load_json(*parts):
    with open(os.path.join(*parts), encoding="utf-8") as f:
        return json.load(f)


def read_f32(path):
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder != "little":
        a.byteswap()
    return a


def with_tokenizer(model_dir, tmp):
    """The tiny fixtures have no tokenizer.json, which the engine requires to
    load a model; the logits tool only uses token ids, so a directory of
    links to the model's files plus the bundled tokenizer stands in."""
    d = os.path.join(tmp, os.path.basename(model_dir))
    os.mkdir(d)
    for f in os.listdir(model_dir):
        os.symlink(os.path.join(model_dir, f), os.path.join(d, f))
    os.symlink(os.path.join(BROWN, "tokenizer.json"), os.path.join(d, "tokenizer.json"))
    return d


# ---------------------------------------------------------------- generate

def group_generate():
    gold = load_json(FIX, "golden", "brown.json")["prompts"]
    bf16 = [p for p in gold if p["weights"] == "bf16"]
    check(len(bf16) == 4, "brown.json has 4 bf16 prompts")
    # The text printed for each golden prompt is the reference text of its
    # 40 greedy tokens, byte for byte.
    for p in bf16:
        out = run_ok(["generate", "-m", BROWN, "--max-tokens", "40", "--quiet", p["prompt"]])
        check(out.decode("utf-8") == p["greedy_text"],
              "generate %r: got %r, expected %r" % (p["prompt"], out.decode("utf-8", "replace"), p["greedy_text"]))
    p = bf16[0]
    # --json: one object per token (the golden ids), then the finish reason
    # and the metrics.
    out = run_ok(["generate", "-m", BROWN, "--max-tokens", "40", "--json", "--quiet", p["prompt"]])
    lines = [json.loads(l) for l in out.decode().splitlines()]
    check([l["id"] for l in lines[:-1]] == p["greedy_ids"], "generate --json ids equal the golden ids")
    check("".join(l["text"] for l in lines[:-1]) == p["greedy_text"], "generate --json texts concatenate to the golden text")
    check(lines[-1].get("finish_reason") == "length", "generate --json ends with finish_reason length: %r" % lines[-1])
    check(lines[-1].get("metrics", {}).get("generated_tokens") == 40 and
          lines[-1]["metrics"].get("prompt_tokens") == len(p["prompt_ids"]),
          "generate --json metrics count 40 generated and %d prompt tokens: %r" % (len(p["prompt_ids"]), lines[-1]))
    # The prompt from standard input (exact bytes), and as token ids.
    out = run_ok(["generate", "-m", BROWN, "--max-tokens", "40", "--quiet"], stdin=p["prompt"].encode())
    check(out.decode() == p["greedy_text"], "generate with the prompt on stdin: %r" % out)
    ids = ",".join(str(i) for i in p["prompt_ids"])
    out = run_ok(["generate", "-m", BROWN, "--max-tokens", "40", "--quiet", "--prompt-ids", ids])
    check(out.decode() == p["greedy_text"], "generate --prompt-ids: %r" % out)
    # --max-tokens, --stop: a prefix of the golden text, cut before the stop
    # string, which is never printed.
    out = run_ok(["generate", "-m", BROWN, "--max-tokens", "5", "--json", "--quiet", p["prompt"]])
    lines = [json.loads(l) for l in out.decode().splitlines()]
    check([l["id"] for l in lines[:-1]] == p["greedy_ids"][:5], "--max-tokens 5 gives the first 5 golden ids")
    stop = "good-time"
    out = run_ok(["generate", "-m", BROWN, "--max-tokens", "40", "--quiet", "--stop", stop, p["prompt"]])
    want = p["greedy_text"][:p["greedy_text"].index(stop)]
    check(out.decode() == want, "--stop: got %r, expected %r" % (out, want))
    # The summary line on stderr (tokens and tokens/s), absent with --quiet.
    rc, out, err = run(["generate", "-m", BROWN, "--max-tokens", "3", p["prompt"]])
    check(rc == 0 and "3 tokens" in err and "tok/s" in err, "summary line on stderr: %r" % err)
    # Seeded sampling is reproducible.
    args = ["generate", "-m", BROWN, "--max-tokens", "20", "--quiet", "--temp", "0.9",
            "--top-k", "40", "--top-p", "0.95", "--seed", "1234", p["prompt"]]
    a, b = run_ok(args), run_ok(args)
    check(a == b and len(a) > 0, "same seed, same text: %r vs %r" % (a, b))
    # 0 is a seed like any other (no --seed asks for a random one).
    args[args.index("1234")] = "0"
    a, b = run_ok(args), run_ok(args)
    check(a == b and len(a) > 0, "--seed 0 is a fixed seed: %r vs %r" % (a, b))
    # OpenAI's sampling fields (issue 16): --logit-bias +100 forces a token,
    # -100 bans the greedy one; a large --frequency-penalty changes the
    # greedy text, the same way every run; each also reaches batch.
    def ids_of(args):
        out = run_ok(["generate", "-m", BROWN, "--json", "--quiet"] + args + [p["prompt"]])
        return [json.loads(l)["id"] for l in out.decode().splitlines()[:-1]]
    forced = 1000
    got = ids_of(["--max-tokens", "4", "--logit-bias", "%d=100" % forced])
    check(got == [forced] * 4, "--logit-bias %d=100 forces it: %r" % (forced, got))
    g0 = p["greedy_ids"][0]
    got = ids_of(["--max-tokens", "1", "--logit-bias", "%d=-100,%d=0" % (g0, forced)])
    check(len(got) == 1 and got[0] != g0, "--logit-bias %d=-100 bans the greedy token: %r" % (g0, got))
    a = ids_of(["--max-tokens", "40", "--frequency-penalty", "2"])
    b = ids_of(["--max-tokens", "40", "--frequency-penalty", "2"])
    check(a == b and a != p["greedy_ids"] and a[0] == g0,
          "--frequency-penalty 2: deterministic, first token unchanged, text changed: %r" % a)
    c = ids_of(["--max-tokens", "40", "--presence-penalty", "2"])
    check(c != p["greedy_ids"] and c[0] == g0, "--presence-penalty 2 changes the greedy text: %r" % c)
    check(ids_of(["--max-tokens", "40", "--presence-penalty", "0", "--frequency-penalty", "0"])
          == p["greedy_ids"], "penalties 0 are off")
    # The quantised variants through batch: every prompt's 40 greedy tokens.
    for w, d in (("mlx8", "brown-llama-8m-mlx8"), ("mlx4", "brown-llama-8m-mlx4")):
        ps = [q for q in gold if q["weights"] == w]
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            for i, q in enumerate(ps):
                f.write(json.dumps({"prompt": q["prompt"], "id": "p%d" % i}) + "\n")
        out = run_ok(["batch", "-m", os.path.join(ROOT, "models", d), "--max-tokens", "40", "--quiet", f.name])
        os.unlink(f.name)
        res = [json.loads(l) for l in out.decode().splitlines()]
        check(len(res) == len(ps), "batch %s: one line per prompt" % w)
        for i, (r, q) in enumerate(zip(res, ps)):
            check(r.get("id") == "p%d" % i and r.get("index") == i, "batch %s keeps order and ids" % w)
            check(r.get("token_ids") == q["greedy_ids"], "batch %s %r: ids %r != golden %r" % (w, q["prompt"], r.get("token_ids"), q["greedy_ids"]))
            check(r.get("text") == q["greedy_text"], "batch %s %r: text %r" % (w, q["prompt"], r.get("text")))
            check(r.get("finish_reason") == "length" and r.get("prompt_tokens") == len(q["prompt_ids"]),
                  "batch %s: finish_reason and prompt_tokens: %r" % (w, r))
    # classify (plain lines): the first greedy token of each prompt.
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("".join(q["prompt"] + "\n" for q in bf16))
    out = run_ok(["classify", "-m", BROWN, "--quiet", f.name])
    res = [json.loads(l) for l in out.decode().splitlines()]
    check([r.get("token_id") for r in res] == [q["greedy_ids"][0] for q in bf16],
          "classify: next tokens %r" % [r.get("token_id") for r in res])
    out = run_ok(["classify", "-m", BROWN, "--quiet", "--logits", f.name])
    res = [json.loads(l) for l in out.decode().splitlines()]
    for r, q in zip(res, bf16):
        lg = r.get("logits") or []
        check(len(lg) == 32000 and all(abs(lg[i] - v) < 1e-3 for i, v in zip(q["top10_ids"], q["top10_logits"])),
              "classify --logits: the golden top-10 logits of %r" % q["prompt"])
    os.unlink(f.name)


# ------------------------------------------------------------------ logits

def group_logits():
    tmp = tempfile.mkdtemp()
    try:
        names = sorted(os.listdir(os.path.join(FIX, "tiny")))
        check(len(names) == 12, "12 tiny fixtures")
        for name in names:
            g = load_json(FIX, "golden", "models", name, "golden.json")
            d = with_tokenizer(os.path.join(FIX, "tiny", name), tmp)
            out = os.path.join(tmp, name + ".f32")
            ids = ",".join(str(i) for i in g["input_ids"])
            rc, _, err = run(["logits", "-m", d, "--tokens", ids, "--out", out, "--quiet"])
            if not check(rc == 0, "logits %s: %s" % (name, err.strip())):
                continue
            got = read_f32(out)
            want = read_f32(os.path.join(FIX, "golden", "models", name, "logits.f32"))
            t, v = g["logits_shape"]
            check(len(got) == t * v, "logits %s: %d floats, expected [%d, %d]" % (name, len(got), t, v))
            diff = max(abs(a - b) for a, b in zip(got, want)) if len(got) == len(want) else float("inf")
            print("logits %-18s max |diff| %.3g" % (name, diff))
            check(diff <= 1e-3, "logits %s within 1e-3 of the reference (max diff %g)" % (name, diff))
        # The bundled model: the top-10 next-token logits after each golden
        # prompt (last row), written to standard output with --out -.
        for p in load_json(FIX, "golden", "brown.json")["prompts"]:
            if p["weights"] != "bf16":
                continue
            rc, out, err = run(["logits", "-m", BROWN, "--tokens", ",".join(map(str, p["prompt_ids"])), "--out", "-"])
            check(rc == 0 and "[%d, 32000]" % len(p["prompt_ids"]) in err, "logits --out -: %s" % err.strip())
            a = array.array("f")
            a.frombytes(out)
            last = a[(len(p["prompt_ids"]) - 1) * 32000:]
            check(len(last) == 32000 and all(abs(last[i] - v) < 1e-3 for i, v in zip(p["top10_ids"], p["top10_logits"])),
                  "logits of %r: last row has the golden top-10 values" % p["prompt"])
    finally:
        shutil.rmtree(tmp)


def group_perplexity():
    g = load_json(FIX, "golden", "brown.json")["perplexity"]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ids.json")
        with open(path, "w") as f:
            json.dump(g["ppl_ids"], f)
        for w, d in (("bf16", "brown-llama-8m"), ("mlx4", "brown-llama-8m-mlx4")):
            out = run_ok(["perplexity", "-m", os.path.join(ROOT, "models", d), "--ids-file", path, "--json", "--quiet"])
            r = json.loads(out)
            n = len(g["ppl_ids"])
            print("perplexity %s: %.4f (reference %.4f) over %d tokens" % (w, r["ppl"], g[w], r["tokens"]))
            check(r["tokens"] == n - n // 256, "perplexity scores 255 tokens per window: %r" % r)
            check(abs(r["ppl"] - g[w]) / g[w] < 0.005, "perplexity %s %.4f within 0.5%% of %.4f" % (w, r["ppl"], g[w]))
        # --text tokenizes as tokenize does; the same ids give the same number.
        text = "The jury said it did find that the city had been well run.\n"
        tp = os.path.join(tmp, "t.txt")
        with open(tp, "w") as f:
            f.write(text)
        ids = json.loads(run_ok(["tokenize", "-m", BROWN, "--json", text]))["ids"]
        with open(path, "w") as f:
            json.dump(ids, f)
        a = json.loads(run_ok(["perplexity", "-m", BROWN, "--text", tp, "--json", "--window", "8"]))
        b = json.loads(run_ok(["perplexity", "-m", BROWN, "--ids-file", path, "--json", "--window", "8"]))
        n = len(ids)
        scored = sum(min(8, n - s) - 1 for s in range(0, n, 8) if n - s >= 2)
        check(a == b and a["tokens"] == scored, "perplexity --text equals --ids-file of its ids: %r %r (expected %d tokens)" % (a, b, scored))


# ---------------------------------------------------------------- tokenize

# A spread of the 45 golden strings (each costs 4 program runs; the library
# test covers all 45): empty, newlines, CJK, emoji with ZWJ sequences, the
# special-token text of each family, control characters.
TOKENIZE_CASES = [0, 3, 8, 16, 21, 22, 23, 24, 25, 33]


def group_tokenize(name):
    d = os.path.join(CACHE, "tokenizers", name)
    if not os.path.exists(os.path.join(d, "tokenizer.json")):
        print("SKIP: %s not fetched (scripts/fetch-tokenizers.sh)" % d)
        sys.exit(77)
    cases = load_json(FIX, "golden", "tokenizers", name + ".json")["cases"]
    for i in TOKENIZE_CASES:
        c = cases[i]
        t = c["text"]
        out = run_ok(["tokenize", "-m", d, "--json", t], what="tokenize %s #%d" % (name, i))
        check(json.loads(out or b"{}").get("ids") == c["ids_with_special"],
              "tokenize %s #%d %r: %s != %r" % (name, i, t, out, c["ids_with_special"]))
        out = run_ok(["tokenize", "-m", d, "--no-special", t], what="tokenize --no-special %s #%d" % (name, i))
        want = ",".join(str(x) for x in c["ids"]) + "\n"
        check(out.decode() == want, "tokenize --no-special %s #%d %r: %r != %r" % (name, i, t, out, want))
        ids = ",".join(str(x) for x in c["ids"])
        out = run_ok(["detokenize", "-m", d, ids], what="detokenize %s #%d" % (name, i))
        check(out.decode("utf-8", "replace") == c["decoded"], "detokenize %s #%d: %r != %r" % (name, i, out, c["decoded"]))
        ids = ",".join(str(x) for x in c["ids_with_special"])
        out = run_ok(["detokenize", "-m", d, "--skip-special", ids], what="detokenize --skip-special %s #%d" % (name, i))
        check(out.decode("utf-8", "replace") == c["decoded_skip_special"],
              "detokenize --skip-special %s #%d: %r != %r" % (name, i, out, c["decoded_skip_special"]))
    # The text from standard input, exactly (trailing newlines included).
    c = cases[8]
    out = run_ok(["tokenize", "-m", d, "--json", "--no-special"], stdin=c["text"].encode())
    check(json.loads(out or b"{}").get("ids") == c["ids"], "tokenize from stdin %s: %s" % (name, out))


# ---------------------------------------------------------------- template

def group_template(name):
    d = os.path.join(CACHE, "tokenizers", name)
    if not os.path.exists(os.path.join(d, "tokenizer_config.json")):
        print("SKIP: %s not fetched (scripts/fetch-tokenizers.sh)" % d)
        sys.exit(77)
    cases = load_json(FIX, "golden", "chat", name + ".json")["cases"]
    with tempfile.TemporaryDirectory() as tmp:
        for c in cases:
            mp = os.path.join(tmp, "messages.json")
            with open(mp, "w", encoding="utf-8") as f:
                json.dump(c["messages"], f, ensure_ascii=False)
            args = ["template", "-m", d, "--messages", mp]
            if c.get("add_generation_prompt"):
                args.append("--add-generation-prompt")
            for k, v in (c.get("kwargs") or {}).items():
                if k == "tools":
                    tp = os.path.join(tmp, "tools.json")
                    with open(tp, "w", encoding="utf-8") as f:
                        json.dump(v, f, ensure_ascii=False)
                    args += ["--tools", tp]
                else:
                    args += ["--var", "%s=%s" % (k, json.dumps(v))]
            rc, out, err = run(args)
            if "rendered" in c:
                check(rc == 0, "template %s/%s: exit %d: %s" % (name, c["name"], rc, err.strip()))
                check(out.decode("utf-8", "replace") == c["rendered"],
                      "template %s/%s:\n  got      %r\n  expected %r" % (name, c["name"], out, c["rendered"]))
            else:
                msg = c["error"]
                if msg.startswith("TemplateError: "):
                    msg = msg[len("TemplateError: "):]
                lines = err.strip().splitlines()
                check(rc == 1 and out == b"" and len(lines) == 1 and msg in lines[0],
                      "template %s/%s: expected exit 1 and one line with %r, got %d %r" % (name, c["name"], msg, rc, err))
        # --var tools=JSON is the same as --tools FILE.
        c = next((c for c in cases if "tools" in (c.get("kwargs") or {})), None)
        if c:
            mp = os.path.join(tmp, "messages.json")
            with open(mp, "w", encoding="utf-8") as f:
                json.dump(c["messages"], f, ensure_ascii=False)
            args = ["template", "-m", d, "--messages", mp, "--var", "tools=" + json.dumps(c["kwargs"]["tools"])]
            if c.get("add_generation_prompt"):
                args.append("--add-generation-prompt")
            out = run_ok(args)
            check(out.decode() == c["rendered"], "template --var tools=...: %r" % out)


# ------------------------------------------------------------------ errors

def expect_error(args, want_rc, needle, stdin=b"", what=None):
    """The program must exit with want_rc (a plain exit, not a signal), print
    nothing on stdout and exactly one line on stderr that starts with
    "inference: " and contains needle."""
    rc, out, err = run(args, stdin)
    lines = err.splitlines()
    ok = (rc == want_rc and len(lines) == 1 and lines[0].startswith("inference: ")
          and needle.lower() in lines[0].lower())
    check(ok, "%s: expected exit %d with one line containing %r; got exit %d, stdout %r, stderr %r"
          % (what or args, want_rc, needle, rc, out[:200], err))
    if ok:
        print("  %-60s -> %d  %s" % (" ".join(a if len(a) < 30 else a[:27] + "..." for a in args)[:60], rc, lines[0]))


def group_errors():
    tmp = tempfile.mkdtemp()
    try:
        bad_utf8 = os.path.join(tmp, "bad.txt")
        with open(bad_utf8, "wb") as f:
            f.write(b"The jury \xff said\n")
        notmodel = os.path.join(tmp, "notmodel")
        os.mkdir(notmodel)
        # A model directory whose weights are cut short.
        broken = os.path.join(tmp, "broken")
        os.mkdir(broken)
        for f in ("config.json", "tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(BROWN, "..", "brown-llama-8m-mlx8", f), broken)
        with open(os.path.join(ROOT, "models", "brown-llama-8m-mlx8", "model.safetensors"), "rb") as src, \
                open(os.path.join(broken, "model.safetensors"), "wb") as dst:
            dst.write(src.read(100000))
        msgs_bad = os.path.join(tmp, "msgs.json")
        with open(msgs_bad, "w") as f:
            f.write('[{"role": "user", "content": "hi"')
        not_array = os.path.join(tmp, "obj.json")
        with open(not_array, "w") as f:
            f.write('{"ids": [1, 2]}')
        M = BROWN
        E = expect_error
        E([], 2, "no subcommand")
        E(["frobnicate"], 2, "unknown subcommand 'frobnicate'")
        E(["generate", "-m", M, "--bogus", "x"], 2, "unknown option '--bogus'")
        E(["generate", "-m", M, "-z", "x"], 2, "unknown option '-z'")
        E(["generate", "-m", M, "x", "--max-tokens"], 2, "'--max-tokens' needs a value")
        E(["generate", "-m", M, "--temp", "hot", "x"], 2, "invalid value 'hot' for --temp")
        E(["generate", "-m", M, "--max-tokens", "-3", "x"], 2, "--max-tokens")
        E(["generate", "-m", M, "--top-p", "1.5", "x"], 2, "--top-p")
        E(["generate", "-m", M, "--seed", "-1", "x"], 2, "--seed")
        E(["generate", "-m", M, "--json=yes", "x"], 2, "takes no value")
        # The sampling ranges are the library's table (inf_generate_option_bounds).
        E(["generate", "-m", M, "--temp", "101", "x"], 2, "invalid value '101' for --temp: must be in [0, 100]")
        E(["generate", "-m", M, "--temperature=-1", "x"], 2, "for --temp: must be in [0, 100]")
        E(["generate", "-m", M, "--top-k", "2000000", "x"], 2, "for --top-k: must be in [0, 1000000]")
        E(["generate", "-m", M, "--repeat-penalty", "nan", "x"], 2, "--repeat-penalty: expected a number")
        E(["chat", "-m", M, "--stop", ""], 2, "--stop needs a non-empty text")
        E(["generate", "-m", M, "--presence-penalty", "3", "x"], 2, "for --presence-penalty: must be in [-2, 2]")
        E(["generate", "-m", M, "--frequency-penalty", "-2.5", "x"], 2, "for --frequency-penalty: must be in [-2, 2]")
        E(["generate", "-m", M, "--logit-bias", "5=200", "x"], 2, "BIAS must be a number in [-100, 100]")
        E(["generate", "-m", M, "--logit-bias", "abc", "x"], 2, "expected ID=BIAS")
        E(["batch", "-m", M, "--logit-bias", "5", "f"], 2, "expected ID=BIAS")
        E(["generate", "-m", M, "--quiet", "--logit-bias", "99999=1", "x"], 1, "outside the vocabulary")
        E(["batch", "-m", M, "--max-tokens", "1.5", "f"], 2, "--max-tokens: expected an integer")
        E(["generate", "x"], 2, "use -m DIR")
        E(["generate", "-m", M, "a", "b"], 2, "one PROMPT")
        E(["generate", "-m", os.path.join(tmp, "nope"), "x"], 1, "not found")
        E(["generate", "-m", notmodel, "x"], 1, "no config.json")
        E(["generate", "-m", bad_utf8, "x"], 1, "not a directory")
        E(["generate", "-m", os.path.join(FIX, "tiny", "llama-f32"), "x"], 1, "tokenizer")
        E(["generate", "-m", broken, "x"], 1, "cannot load")
        E(["generate", "-m", M, "--quiet", b"The jury \xff said".decode("utf-8", "surrogateescape")], 1, "not valid UTF-8")
        E(["generate", "-m", M, "--quiet"], 1, "not valid UTF-8", stdin=b"abc\xc3(")
        E(["generate", "-m", M, "--quiet", "-f", bad_utf8], 1, "not valid UTF-8")
        E(["generate", "-m", M, "--quiet", "--prompt-ids", "1,x"], 2, "element 2")
        E(["generate", "-m", M, "--quiet", "--ctx", "16", "The jury said " * 20], 1, "context")
        E(["tokenize", "-m", M, b"\xed\xa0\x80".decode("utf-8", "surrogateescape")], 1, "not valid UTF-8")
        E(["tokenize", "-m", notmodel, "x"], 1, "no tokenizer.json")
        E(["tokenize", "x"], 2, "use -m DIR")
        E(["detokenize", "-m", M, "1,,2"], 2, "element 2")
        E(["detokenize", "-m", M, "1,abc"], 2, "element 2 ('abc')")
        E(["detokenize", "-m", M, "-5"], 2, "unknown option")
        E(["detokenize", "-m", M, "1;2"], 2, "unexpected ';'")
        E(["detokenize", "-m", M, "99999999"], 1, "out of range")
        E(["detokenize", "-m", M], 2, "one IDS")
        E(["template", "-m", M], 2, "--messages")
        E(["template", "-m", M, "--messages", msgs_bad], 1, "not valid JSON")
        E(["template", "-m", M, "--messages", not_array], 1, "JSON array")
        E(["template", "-m", M, "--messages", os.path.join(tmp, "none.json")], 1, "cannot open")
        E(["template", "-m", M, "--messages", not_array, "--var", "x=notjson"], 2, "not JSON")
        E(["logits", "-m", M, "--tokens", "1,2"], 2, "--out")
        E(["logits", "-m", M, "--tokens", "1,40000", "--out", os.path.join(tmp, "l")], 1, "out of range")
        E(["logits", "-m", M, "--tokens", "1,2", "--out", os.path.join(tmp, "no", "dir", "l")], 1, "cannot create")
        E(["perplexity", "-m", M, "--text", bad_utf8, "--ids-file", not_array], 2, "exactly one")
        E(["perplexity", "-m", M, "--ids-file", not_array], 1, "JSON array")
        E(["perplexity", "-m", M, "--text", bad_utf8], 1, "not valid UTF-8")
        E(["perplexity", "-m", M, "--ids-file", not_array, "--window", "1"], 2, "--window")
        E(["classify", "-m", M, os.path.join(tmp, "none.txt")], 1, "cannot open")
        E(["classify", "-m", M, bad_utf8], 1, "not valid UTF-8")
        E(["batch", "-m", M], 2, "one FILE")
        E(["chat", "-m", M, "--messages", msgs_bad], 1, "not valid JSON")
        E(["chat", "-m", M, "hello"], 2, "unexpected argument")
        E(["discover", os.path.join(tmp, "nope")], 1, "not found")
        E(["discover"], 2, "one DIR")
        E(["info", "-m", notmodel], 1, "no config.json")
        E(["bench", "-m", M, "-p", "0"], 2, "-p")
        E(["bench", "-m", M, "--dummy-bits", "4"], 2, "need --dummy")
        E(["bench", "-m", M, "--dummy", "--dummy-bits", "5"], 2, "4 or 8")
        E(["backends", "extra"], 2, "unexpected argument")
        E(["backends", "-x"], 2, "unknown option '-x'")
        # serve reads its command line with the same parser (when built).
        if b"serve" in run(["--help"])[1] and run(["serve", "--help"])[0] == 0:
            E(["serve"], 2, "no model given: use -m DIR")
            E(["serve", "-m", M, "--port", "70000"], 2, "invalid value '70000' for --port: must be in [0, 65535]")
            E(["serve", "-m", M, "--bogus"], 2, "unknown option '--bogus'")
            E(["serve", "-m", M, "--queue"], 2, "option '--queue' needs a value")
            E(["serve", "-m", M, "extra"], 2, "unexpected argument 'extra'")
            E(["serve", "-m", os.path.join(tmp, "nope")], 1, "not found")
        # A prompt too long for the context fails alone in classify / batch:
        # its line carries the error, the others their results, exit 1.
        pf = os.path.join(tmp, "prompts.txt")
        with open(pf, "w") as f:
            f.write("The jury said\n" + "word " * 1200 + "\nOnce upon a time\n")
        rc, out, err = run(["classify", "-m", M, "--quiet", pf])
        res = [json.loads(l) for l in out.decode().splitlines()]
        check(rc == 1 and len(res) == 3 and "error" in res[1] and "token_id" in res[0] and "token_id" in res[2]
              and len(err.splitlines()) == 1, "classify with one too-long prompt: %d %r %r" % (rc, res, err))
    finally:
        shutil.rmtree(tmp)


# -------------------------------------------------------------------- misc

def group_misc():
    # --help on every subcommand: exit 0, usage on stdout.
    for sub in ("generate", "chat", "classify", "batch", "discover", "info", "tokenize", "detokenize",
                "template", "logits", "perplexity", "backends", "bench"):
        rc, out, err = run([sub, "--help"])
        check(rc == 0 and out.decode().startswith("usage: inference " + sub), "%s --help" % sub)
    rc, out, _ = run(["--help"])
    check(rc == 0 and b"serve" in out and b"perplexity" in out, "inference --help lists the subcommands")
    rc, out, _ = run(["serve", "--help"])
    if rc == 0:
        check(out.decode().startswith("usage: inference serve") and "--max-tokens-limit N" in out.decode(),
              "serve --help: %r" % out[:200])
    # The help is generated from the option tables: groups, defaults.
    out = run_ok(["generate", "--help"]).decode()
    check("\nModel:\n  -m, --model DIR" in out and "\nSampling:\n  --temp X" in out and "  -h, --help" in out,
          "generate --help has the Model and Sampling groups: %r" % out)
    check("(default 256)" in out, "generate --help: max-tokens defaults to INF_DEFAULT_MAX_TOKENS: %r" % out)
    for sub, want in (("chat", "(default 256)"), ("batch", "(default 256)"), ("classify", "(default 1)")):
        h = run_ok([sub, "--help"]).decode()
        line = [l for l in h.splitlines() if "--max-tokens" in l]
        rest = h[h.index(line[0]):] if line else ""
        check(want in rest[:200], "%s --help: --max-tokens %s: %r" % (sub, want, rest[:200]))
    rc, out, _ = run(["help", "tokenize"])
    check(rc == 0 and out.decode().startswith("usage: inference tokenize"), "inference help tokenize")
    # On a terminal (util-linux `script` provides one): the progress bar
    # while loading, cleared before the text; a final newline after the text;
    # neither bar nor summary with --quiet.
    if shutil.which("script"):
        def tty(cmd):
            p = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, timeout=120)
            return p.stdout
        raw = tty("'%s' generate -m '%s' --max-tokens 3 'The jury said'" % (BIN, BROWN))
        check(b"loading [" in raw and b"] 100%\r\x1b[Khe was a\r\n" in raw and b"3 tokens" in raw,
              "progress bar, cleared, then the text and a newline on a terminal: %r" % raw)
        raw = tty("'%s' generate -m '%s' --max-tokens 3 --quiet 'The jury said'" % (BIN, BROWN))
        check(raw == b"he was a\r\n", "--quiet on a terminal: only the text: %r" % raw)
    # discover: the three bundled models, with their quantisation.
    found = json.loads(run_ok(["discover", "--json", os.path.join(ROOT, "models")]))
    got = sorted((os.path.basename(d["path"]), d["model_type"], d["quant_bits"], d["safetensors"]) for d in found)
    check(got == [("brown-llama-8m", "llama", 0, 2), ("brown-llama-8m-mlx4", "llama", 4, 1),
                  ("brown-llama-8m-mlx8", "llama", 8, 1)], "discover --json models: %r" % got)
    table = run_ok(["discover", os.path.join(ROOT, "models")]).decode()
    check(table.count("brown-llama-8m") == 3 and "4-bit/g64" in table, "discover table: %r" % table)
    # backends: cpu is registered and available.
    b = json.loads(run_ok(["backends", "--json"]))
    cpu = [x for x in b["backends"] if x["name"] == "cpu"]
    check(cpu and cpu[0]["available"], "backends --json: cpu available: %r" % b)
    check(b["default"] in [x["name"] for x in b["backends"] if x["available"]], "backends: the default is available")
    # info: the numbers of config.json, the bundled tokenizer, the fallback
    # template (the bundled model has none), the weights' size.
    cfg = load_json(BROWN, "config.json")
    for d, bits in (("brown-llama-8m", 0), ("brown-llama-8m-mlx4", 4)):
        i = json.loads(run_ok(["info", "-m", os.path.join(ROOT, "models", d), "--json"]))
        check(i["architecture"] == "llama" and i["vocab_size"] == cfg["vocab_size"] and
              i["n_layers"] == cfg["num_hidden_layers"] and i["hidden_size"] == cfg["hidden_size"] and
              i["quant_bits"] == bits and i["backend"] == "cpu", "info --json %s: %r" % (d, i))
        check(i["tokenizer"].get("vocab_size") == 32000 and i["tokenizer"].get("bos", {}).get("id") == 1,
              "info: tokenizer %r" % i["tokenizer"])
        check(i["chat_template"].get("source") == "ChatML fallback", "info: template %r" % i["chat_template"])
    # The bf16 weights take 2 bytes per parameter of the safetensors files.
    size = sum(os.path.getsize(os.path.join(BROWN, f)) for f in os.listdir(BROWN) if f.endswith(".safetensors"))
    i = json.loads(run_ok(["info", "-m", BROWN, "--json"]))
    check(0.95 * size < i["weight_bytes"] <= size, "info: weight bytes %d vs files %d" % (i["weight_bytes"], size))
    text = run_ok(["info", "-m", BROWN]).decode()
    check("architecture:   llama" in text and "ChatML fallback" in text, "info table: %r" % text)
    check("format:         safetensors" in text and "weight types:   bfloat16" in text,
          "info table: format and weight types: %r" % text)
    # info on a GGUF file: format, the weight type mix, the training
    # context, the tokenizer.ggml model/pre and the file's own chat template
    # (tiny llama-f32 as Q8_0 with the bundled tokenizer and a template).
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(os.path.join(BROWN, "tokenizer.json"), tmp)
        tc = load_json(BROWN, "tokenizer_config.json")
        tc["chat_template"] = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
        with open(os.path.join(tmp, "tokenizer_config.json"), "w") as f:
            json.dump(tc, f)
        gg = os.path.join(tmp, "tiny-q8_0.gguf")
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "hf-to-gguf.py"),
                        os.path.join(FIX, "tiny", "llama-f32"), gg, "--type", "q8_0",
                        "--tokenizer", tmp], check=True, stdout=subprocess.DEVNULL)
        tcfg = load_json(FIX, "tiny", "llama-f32", "config.json")
        i = json.loads(run_ok(["info", "-m", gg, "--json"]))
        check(i.get("format") == "gguf" and i.get("weight_types") == "Q8_0 23, F32 7" and
              i.get("train_context") == tcfg["max_position_embeddings"] and
              i.get("tokenizer_model") == "llama" and i.get("tokenizer_pre") == "default" and
              i.get("has_chat_template") is True and i["vocab_size"] == tcfg["vocab_size"] and
              i["chat_template"].get("source") == "tokenizer.chat_template",
              "info --json on a GGUF: %r" % i)
        text = run_ok(["info", "-m", gg]).decode()
        check("format:         gguf" in text and "weight types:   Q8_0 23, F32 7" in text and
              "(trained for %d)" % tcfg["max_position_embeddings"] in text and
              "gguf tokenizer: model llama, pre default; chat template present" in text,
              "info table on a GGUF: %r" % text)
    # chat --messages replies as generate does on the rendered prompt.
    with tempfile.TemporaryDirectory() as tmp:
        conv = [{"role": "system", "content": "You write about the jury."},
                {"role": "user", "content": "What did the jury say?"}]
        mp = os.path.join(tmp, "m.json")
        with open(mp, "w") as f:
            json.dump(conv, f)
        rendered = run_ok(["template", "-m", BROWN, "--messages", mp, "--add-generation-prompt"]).decode()
        check(rendered.startswith("<|im_start|>system\nYou write about the jury.<|im_end|>\n") and
              rendered.endswith("<|im_start|>assistant\n"), "template ChatML fallback: %r" % rendered)
        reply = run_ok(["chat", "-m", BROWN, "--messages", mp, "--max-tokens", "12", "--quiet"])
        gen = run_ok(["generate", "-m", BROWN, "--max-tokens", "12", "--quiet", rendered])
        check(reply == gen and len(reply) > 0, "chat --messages %r equals generate on the rendered prompt %r" % (reply, gen))
        # Non-terminal chat: one line per user message, one reply per line;
        # /reset forgets, so asking the same first question again gives the
        # same reply; /system sets the system prompt.
        rc, out, err = run(["chat", "-m", BROWN, "--max-tokens", "12", "--quiet",
                            "--system", "You write about the jury."],
                           stdin=b"What did the jury say?\n/reset\nWhat did the jury say?\n/quit\nnever read\n")
        replies = out.decode().split("\n")
        check(rc == 0 and len(replies) >= 3 and replies[0] == replies[1] == reply.decode().split("\n")[0],
              "chat on stdin with /reset: %r vs %r (%s)" % (replies, reply, err))
        # batch and classify read JSONL and plain lines alike.
        pf = os.path.join(tmp, "p.jsonl")
        with open(pf, "w") as f:
            f.write('"The jury said"\n{"prompt": "Once upon a time"}\n')
        res = [json.loads(l) for l in run_ok(["batch", "-m", BROWN, "--max-tokens", "4", "--quiet", pf]).decode().splitlines()]
        check(len(res) == 2 and all(r["generated_tokens"] == 4 for r in res), "batch JSONL: %r" % res)
        # bench: a config-only directory with --dummy (no tokenizer needed),
        # and the bundled model; the program checks n tokens were decoded.
        dd = os.path.join(tmp, "dummy")
        os.mkdir(dd)
        shutil.copy(os.path.join(BROWN, "config.json"), dd)
        for args in (["-m", dd, "--dummy", "--dummy-bits", "4"], ["-m", BROWN, "--batch", "2"]):
            r = json.loads(run_ok(["bench"] + args + ["-p", "16", "-n", "8", "-r", "2", "-t", "1", "--json"]))
            res = r["results"][0]
            check(res["prefill"]["median"] > 0 and res["decode"]["median"] > 0 and res["load_seconds"] > 0 and
                  res["decode"]["min"] <= res["decode"]["median"] <= res["decode"]["max"] and r["peak_rss_bytes"] > 0,
                  "bench %r: %r" % (args, r))
            if "--batch" in args:
                check(res["batch_decode"]["median"] > 0 and res["batch_decode"]["streams"] == 2, "bench --batch: %r" % res)
            if "--dummy" in args:
                check(r["model"]["quant_bits"] == 4, "bench --dummy-bits 4 quantises: %r" % r["model"])
        out = run_ok(["bench", "-m", BROWN, "-p", "16", "-n", "8", "-r", "1", "-t", "1"]).decode()
        check("pp16" in out and "tg8" in out and "peak RSS" in out, "bench table: %r" % out)
        # The KV and chunking flags reach the load options (as serve's): a
        # KV memory too small for one context fails the load with the
        # engine's message; the settings are in the JSON and the table.
        r = json.loads(run_ok(["bench", "-m", BROWN, "-p", "16", "-n", "8", "-r", "1", "-t", "1", "--batch", "2",
                               "--kv-memory", "8", "--no-prefix-cache", "--prefill-chunk", "4", "--json"]))
        check(r["kv_memory_bytes"] == 8 << 20 and r["prefix_cache"] is False and r["prefill_chunk"] == 4 and
              r["results"][0]["batch_decode"]["median"] > 0, "bench kv flags: %r" % r)
        out = run_ok(["bench", "-m", BROWN, "-p", "16", "-n", "8", "-r", "1", "-t", "1", "--prefill-chunk", "-1"]).decode()
        check("prefill chunk -1" in out and "prefix cache on" in out, "bench kv flags table: %r" % out)
        expect_error(["bench", "-m", BROWN, "--kv-memory", "1", "-p", "16", "-n", "8", "-r", "1"], 1, "kv_memory")
        expect_error(["bench", "-m", BROWN, "--prefill-chunk", "-2"], 2, "--prefill-chunk")


# ------------------------------------------------------------- constrained

def group_constrained():
    """generate / chat --json-schema, --grammar, --regex (issue 15): sampled
    output inside the constraint, every seed; clear errors for bad ones."""
    tmp = tempfile.mkdtemp()
    schema = {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 12},
        "n": {"type": "integer", "minimum": 0, "maximum": 99},
        "ok": {"type": "boolean"}}, "required": ["name", "n", "ok"], "additionalProperties": False}
    sp = os.path.join(tmp, "s.json")
    with open(sp, "w") as f:
        json.dump(schema, f)
    gp = os.path.join(tmp, "g.gbnf")
    with open(gp, "w") as f:
        f.write('root ::= "yes" | "no" | "maybe " [a-z]{1,5}\n')
    for seed in range(8):
        out = run_ok(["generate", "-m", BROWN, "--json-schema", sp, "--temp", "1",
                      "--seed", str(seed), "--max-tokens", "400", "--quiet", "Data:"]).decode()
        try:
            d = json.loads(out)
        except ValueError:
            d = None
        check(isinstance(d, dict) and set(d) == {"name", "n", "ok"} and len(d["name"]) <= 12
              and isinstance(d["n"], int) and 0 <= d["n"] <= 99 and isinstance(d["ok"], bool),
              "generate --json-schema seed %d: %r" % (seed, out))
        out = run_ok(["generate", "-m", BROWN, "--regex", "(cat|dog)s? [0-9]{2,4}!", "--temp", "1",
                      "--seed", str(seed), "--quiet", "Pets:"]).decode()
        check(re.fullmatch(r"(cat|dog)s? [0-9]{2,4}!", out) is not None,
              "generate --regex seed %d: %r" % (seed, out))
        out = run_ok(["generate", "-m", BROWN, "--grammar", gp, "--temp", "1", "--seed", str(seed),
                      "--quiet", "Answer:"]).decode()
        check(re.fullmatch(r"yes|no|maybe [a-z]{1,5}", out) is not None,
              "generate --grammar seed %d: %r" % (seed, out))
    msgs = os.path.join(tmp, "m.json")
    with open(msgs, "w") as f:
        json.dump([{"role": "user", "content": "Give me data."}], f)
    out = run_ok(["chat", "-m", BROWN, "--messages", msgs, "--json-schema", sp, "--temp", "1",
                  "--seed", "1", "--max-tokens", "400", "--quiet"]).decode()
    try:
        d = json.loads(out)
    except ValueError:
        d = None
    check(isinstance(d, dict) and set(d) == {"name", "n", "ok"}, "chat --json-schema: %r" % out)
    expect_error(["generate", "-m", BROWN, "--regex", "a", "--grammar", gp, "x"], 2,
                 "one of --json-schema, --grammar and --regex")
    expect_error(["generate", "-m", BROWN, "--regex", "a(", "x"], 1, "regex")
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        f.write('{"type": "integer", "multipleOf": 3}')
    expect_error(["generate", "-m", BROWN, "--json-schema", bad, "x"], 1, "multipleOf")
    expect_error(["generate", "-m", BROWN, "--json-schema", os.path.join(tmp, "none.json"), "x"],
                 1, "none.json")
    shutil.rmtree(tmp)


# --------------------------------------------------------------- chat-tmux

def group_chat_tmux():
    tmux = shutil.which("tmux")
    if not tmux:
        print("SKIP: tmux is not installed (apt-get install tmux)")
        sys.exit(77)
    sess = "infcli%d" % os.getpid()
    sock = "-Linfcli%d" % os.getpid()

    def t(*a):
        return subprocess.run([tmux, sock] + list(a), capture_output=True, text=True, timeout=30)

    def pane():
        return t("capture-pane", "-p", "-J", "-S", "-200", "-t", sess).stdout

    def wait_for(pred, secs=90):
        end = time.time() + secs
        while time.time() < end:
            s = pane()
            if pred(s):
                return s
            time.sleep(0.3)
        return pane()

    with tempfile.TemporaryDirectory() as tmp:
        # The replies the interactive session must show, from the
        # non-interactive form of the same conversation.
        def reply_to(conv):
            mp = os.path.join(tmp, "m.json")
            with open(mp, "w") as f:
                json.dump(conv, f)
            return run_ok(["chat", "-m", BROWN, "--messages", mp, "--max-tokens", "10", "--quiet"]).decode()

        q1, q2 = "Tell me about the jury.", "And the city?"
        r1 = reply_to([{"role": "user", "content": q1}])
        r2 = reply_to([{"role": "user", "content": q1}, {"role": "assistant", "content": r1},
                       {"role": "user", "content": q2}])
        r3 = reply_to([{"role": "system", "content": "Be brief."}, {"role": "user", "content": q2}])
        status = os.path.join(tmp, "status")
        cmd = "%s chat -m %s --max-tokens 10; echo $? > %s" % (BIN, BROWN, status)
        t("kill-server")
        r = t("new-session", "-d", "-s", sess, "-x", "200", "-y", "50", cmd)
        if not check(r.returncode == 0, "tmux new-session: %s" % r.stderr):
            return
        try:
            s = wait_for(lambda s: "Chatting with" in s and "> " in s)
            check("Chatting with" in s, "the banner and the prompt appear: %r" % s)
            # Line editing: type with a typo, fix it with Backspace (libedit).
            t("send-keys", "-t", sess, "-l", q1 + "x")
            t("send-keys", "-t", sess, "BSpace", "Enter")
            s = wait_for(lambda s: s.count("finish:") >= 1)
            check(("> " + q1) in s, "the typed line, edited: %r" % s)
            check(r1.strip() in s, "the first reply %r is shown: %r" % (r1, s))
            t("send-keys", "-t", sess, "-l", q2)
            t("send-keys", "-t", sess, "Enter")
            s = wait_for(lambda s: s.count("finish:") >= 2)
            check(r2.strip() in s, "the second reply %r (with the history) is shown: %r" % (r2, s))
            t("send-keys", "-t", sess, "/reset", "Enter")
            t("send-keys", "-t", sess, "-l", "/system Be brief.")
            t("send-keys", "-t", sess, "Enter")
            s = wait_for(lambda s: "(system prompt set)" in s)
            check("(conversation reset)" in s and "(system prompt set)" in s, "/reset and /system acknowledged: %r" % s)
            t("send-keys", "-t", sess, "-l", q2)
            t("send-keys", "-t", sess, "Enter")
            s = wait_for(lambda s: s.count("finish:") >= 3)
            check(r3.strip() in s, "after /reset and /system the reply is %r: %r" % (r3, s))
            print("--- the terminal ---\n" + pane().rstrip() + "\n---")
            t("send-keys", "-t", sess, "/quit", "Enter")
            end = time.time() + 30
            while time.time() < end and not os.path.exists(status):
                time.sleep(0.2)
            time.sleep(0.3)
            st = open(status).read().strip() if os.path.exists(status) else None
            check(st == "0", "/quit ends the program with status 0 (got %r)" % st)
        finally:
            t("kill-server")

        # Ctrl-C stops a long reply; the conversation goes on.
        os.unlink(status) if os.path.exists(status) else None
        cmd = "%s chat -m %s --max-tokens 1000 --ignore-eos; echo $? > %s" % (BIN, BROWN, status)
        r = t("new-session", "-d", "-s", sess, "-x", "200", "-y", "50", cmd)
        if not check(r.returncode == 0, "tmux new-session: %s" % r.stderr):
            return
        try:
            wait_for(lambda s: "Chatting with" in s)
            # The reply may finish before the key arrives on a slow machine:
            # then ask again (a few times) until the key lands mid-reply.
            s, landed = "", False
            for attempt in range(4):
                done_before = pane().count("finish:")
                t("send-keys", "-t", sess, "-l", q1)
                t("send-keys", "-t", sess, "Enter")
                end = time.time() + 30
                while time.time() < end:
                    s = pane()
                    if len(s.rsplit(q1, 1)[-1].strip()) > 20 or s.count("finish:") > done_before:
                        break
                    time.sleep(0.02)
                if s.count("finish:") > done_before:
                    continue
                t("send-keys", "-t", sess, "C-c")
                s = wait_for(lambda s: ("(interrupted)" in s or s.count("finish:") > done_before)
                             and s.rstrip().endswith(">"), 30)
                if "(interrupted)" in s or s.count("finish:") == done_before:
                    landed = True
                    break
            check(landed and "(interrupted)" in s and s.rstrip().endswith(">"),
                  "Ctrl-C stops the reply and the prompt returns: %r" % s[-300:])
            check(s.count("finish:") == done_before, "an interrupted reply has no summary: %r" % s[-300:])
            # Ctrl-C at the prompt is ignored: the session goes on.
            t("send-keys", "-t", sess, "C-c")
            time.sleep(0.5)
            t("send-keys", "-t", sess, "-l", "/system Be brief.")
            t("send-keys", "-t", sess, "Enter")
            s = wait_for(lambda s: "(system prompt set)" in s, 30)
            check("(system prompt set)" in s, "Ctrl-C at the prompt does not end the session: %r" % s[-300:])
            t("send-keys", "-t", sess, "C-d")
            end = time.time() + 30
            while time.time() < end and not os.path.exists(status):
                time.sleep(0.2)
            time.sleep(0.3)
            st = open(status).read().strip() if os.path.exists(status) else None
            check(st == "0", "Ctrl-D ends the program with status 0 (got %r)" % st)
        finally:
            t("kill-server")


def group_tokenize_gguf():
    """tokenize / detokenize -m FILE.gguf: the tokenizer from a GGUF file's
    metadata alone (the tiny llama-f32 fixture as Q8_0 with brown's
    tokenizer, tokenizer.ggml.model "llama"), equal to brown's
    tokenizer.json on the golden prompts; a directory holding the file
    works the same; a file without a tokenizer fails with a message."""
    prompts = load_json(FIX, "golden", "brown.json")["prompts"]
    # (Texts where brown's GGUF and tokenizer.json agree: a GGUF "llama"
    # vocabulary converted without tokenizer.model has rebuilt scores, and
    # runs of spaces may split otherwise; tests/gguf compares with llama.cpp.)
    texts = sorted({p["prompt"] for p in prompts}) + ["Hello world\n\nThe \"jury\" said: 42", "<s>x</s>"]
    with tempfile.TemporaryDirectory() as tmp:
        gg = os.path.join(tmp, "m", "tiny-q8_0.gguf")
        os.makedirs(os.path.dirname(gg))
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "hf-to-gguf.py"),
                        os.path.join(FIX, "tiny", "llama-f32"), gg, "--type", "q8_0",
                        "--tokenizer", BROWN], check=True, stdout=subprocess.DEVNULL)
        for t in texts:
            want = json.loads(run_ok(["tokenize", "-m", BROWN, "--json", t]))["ids"]
            for path in (gg, os.path.dirname(gg)):
                got = json.loads(run_ok(["tokenize", "-m", path, "--json", t], what="tokenize -m %s %r" % (path, t)))
                check(got.get("ids") == want, "tokenize -m %s %r: %r != tokenizer.json's %r" % (path, t, got, want))
            plain = run_ok(["tokenize", "-m", gg, "--no-special", t]).decode().strip()
            want_plain = run_ok(["tokenize", "-m", BROWN, "--no-special", t]).decode().strip()
            check(plain == want_plain, "tokenize --no-special -m GGUF %r: %r != %r" % (t, plain, want_plain))
            ids = ",".join(str(x) for x in want)
            for skip in ([], ["--skip-special"]):
                got = run_ok(["detokenize", "-m", gg] + skip + [ids])
                ref = run_ok(["detokenize", "-m", BROWN] + skip + [ids])
                check(got == ref, "detokenize -m GGUF %s %s: %r != tokenizer.json's %r" % (skip, ids, got, ref))
        for p in prompts:
            got = json.loads(run_ok(["tokenize", "-m", gg, "--json", p["prompt"]]))["ids"]
            check(got == p["prompt_ids"], "tokenize -m GGUF %r: %r != golden %r" % (p["prompt"], got, p["prompt_ids"]))
        # Errors: a GGUF without tokenizer metadata, a file that is no GGUF.
        bare = os.path.join(tmp, "bare.gguf")
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "hf-to-gguf.py"),
                        os.path.join(FIX, "tiny", "llama-f32"), bare, "--type", "f32"],
                       check=True, stdout=subprocess.DEVNULL)
        r = subprocess.run([BIN, "tokenize", "-m", bare, "x"], capture_output=True)
        check(r.returncode != 0 and b"no tokenizer" in r.stderr, "tokenize -m GGUF without tokenizer: %r" % (r,))
        junk = os.path.join(tmp, "junk.gguf")
        with open(junk, "wb") as f:
            f.write(b"GGUF\x03\x00")
        r = subprocess.run([BIN, "detokenize", "-m", junk, "1"], capture_output=True)
        check(r.returncode != 0 and b"junk.gguf" in r.stderr, "detokenize -m truncated GGUF: %r" % (r,))


GROUPS = {
    "tokenize-gguf": group_tokenize_gguf,
    "generate": group_generate,
    "logits": group_logits,
    "perplexity": group_perplexity,
    "tokenize": lambda: group_tokenize(ARG),
    "template": lambda: group_template(ARG),
    "errors": group_errors,
    "misc": group_misc,
    "constrained": group_constrained,
    "chat-tmux": group_chat_tmux,
}

if __name__ == "__main__":
    if not os.access(BIN, os.X_OK):
        print("no program at %s" % BIN)
        sys.exit(1)
    GROUPS[GROUP]()
    print("cli %s%s: %d passed, %d failed" % (GROUP, " " + ARG if ARG else "", passed, failed))
    sys.exit(1 if failed else 0)
