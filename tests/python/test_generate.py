"""Generate and Chat: the golden greedy texts of the bundled model, the
same results as the inference program, stops, seeds, logits, chat through
the template."""
import json
import os
import tempfile

import pytest

import inference
from conftest import MODEL, golden_prompts, run_cli


@pytest.mark.parametrize("p", golden_prompts(), ids=lambda p: p["prompt"])
def test_golden_greedy(model, p):
    s = model.generate(p["prompt"], max_tokens=40)
    toks = list(s)
    assert [t.id for t in toks] == p["greedy_ids"]
    assert "".join(t.text for t in toks) == p["greedy_text"]
    assert s.finish_reason == "length" and s.error is None and s.done
    assert s.metrics.generated_tokens == 40
    assert s.metrics.prompt_tokens == len(p["prompt_ids"])
    # The same from the prompt's token ids (used exactly: BOS included).
    assert model.generate(p["prompt_ids"], max_tokens=40).read() == p["greedy_text"]


def test_same_text_as_the_cli(model):
    prompt = "The jury said"
    out = run_cli("generate", "-m", MODEL, "--max-tokens", "100", "--quiet", prompt)
    assert model.generate(prompt, max_tokens=100).read() == out.decode("utf-8")


def test_json_tokens_as_the_cli(model):
    prompt = "Once upon a time"
    out = run_cli("generate", "-m", MODEL, "--max-tokens", "30", "--json", "--quiet", prompt)
    lines = [json.loads(l) for l in out.decode().splitlines()]
    s = model.generate(prompt, max_tokens=30)
    assert [(t.id, t.text) for t in s] == [(l["id"], l["text"]) for l in lines[:-1]]
    assert s.finish_reason == lines[-1]["finish_reason"]
    assert s.metrics.generated_tokens == lines[-1]["metrics"]["generated_tokens"]


def test_stop_string_and_stop_ids(model):
    p = golden_prompts()[0]
    s = model.generate(p["prompt"], max_tokens=40, stop=["good-time", "zzz"])
    assert s.read() == p["greedy_text"][:p["greedy_text"].index("good-time")]
    assert s.finish_reason == "stop"
    s = model.generate(p["prompt"], max_tokens=40, stop="good-time")
    assert s.read() == p["greedy_text"][:p["greedy_text"].index("good-time")]
    s = model.generate(p["prompt"], max_tokens=40, stop_ids=[p["greedy_ids"][3]])
    assert [t.id for t in s] == p["greedy_ids"][:3] and s.finish_reason == "stop"


def test_openai_sampling_fields_as_the_cli(model):
    # presence/frequency penalties and logit_bias reach the library as the
    # CLI's flags do: the same ids from both.
    prompt = "The jury said"
    for kw, flags in (({"frequency_penalty": 1.5}, ["--frequency-penalty", "1.5"]),
                      ({"presence_penalty": -1.0}, ["--presence-penalty", "-1"]),
                      ({"logit_bias": {1000: 100}}, ["--logit-bias", "1000=100"])):
        out = run_cli("generate", "-m", MODEL, "--max-tokens", "20", "--json", "--quiet",
                      *flags, prompt)
        want = [json.loads(l)["id"] for l in out.decode().splitlines()[:-1]]
        got = [t.id for t in model.generate(prompt, max_tokens=20, **kw)]
        assert got == want, kw
    assert [t.id for t in model.generate(prompt, max_tokens=3, logit_bias={1000: 100})] == [1000] * 3
    with pytest.raises(inference.InvalidArgumentError, match="presence_penalty"):
        model.generate(prompt, presence_penalty=2.5)
    with pytest.raises(inference.InvalidArgumentError, match="logit_bias"):
        model.generate(prompt, logit_bias={5: 101})
    with pytest.raises(inference.InvalidArgumentError, match="outside the vocabulary"):
        list(model.generate(prompt, logit_bias={10 ** 6: 1}))


def test_seeds(model):
    kw = dict(max_tokens=20, temperature=0.9, top_k=40, top_p=0.95)
    a = model.generate("The jury said", seed=1234, **kw).read()
    assert a == model.generate("The jury said", seed=1234, **kw).read()
    assert a == run_cli("generate", "-m", MODEL, "--max-tokens", "20", "--temp", "0.9",
                        "--top-k", "40", "--top-p", "0.95", "--seed", "1234", "--quiet",
                        "The jury said").decode()
    # 0 is a fixed seed like any other.
    z = model.generate("The jury said", seed=0, **kw).read()
    assert z == model.generate("The jury said", seed=0, **kw).read()
    # No seed: random (two draws of 20 tokens at temperature 0.9 that all
    # agree would be a near-impossible coincidence, so try a few).
    draws = {model.generate("The jury said", **kw).read() for _ in range(4)}
    assert len(draws) > 1


def test_token_logits_equal_the_logits_call(model):
    p = golden_prompts()[0]
    toks = list(model.generate(p["prompt"], max_tokens=3, logits=True))
    assert all(t.logits is not None and len(t.logits) == 32000 for t in toks)
    full = model.logits(p["prompt_ids"])
    assert full.shape == (len(p["prompt_ids"]), 32000) and full.format == "f"
    first = toks[0].logits
    assert max(abs(first[j] - full[len(p["prompt_ids"]) - 1, j]) for j in range(0, 32000, 97)) < 1e-3
    top = sorted(range(32000), key=lambda j: -first[j])[:10]
    assert top == p["top10_ids"]
    assert list(model.generate(p["prompt"], max_tokens=1))[0].logits is None


def test_chat_through_the_template(model):
    msgs = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Tell me about the jury."}]
    got = model.chat(msgs, max_tokens=30).read()
    # The ChatML fallback rendered, then generated as plain text.
    rendered = model.chat_template.apply(msgs)
    assert rendered.startswith("<|im_start|>system\n")
    assert got == model.generate(rendered, max_tokens=30).read()
    # Message dataclasses are the same as dicts.
    assert got == model.chat([inference.Message(**m) for m in msgs], max_tokens=30).read()
    # The inference program's chat --messages gives the same reply.
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(msgs, f)
    try:
        out = run_cli("chat", "-m", MODEL, "--messages", f.name, "--max-tokens", "30", "--quiet")
    finally:
        os.unlink(f.name)
    assert out.decode().rstrip("\n") == got.rstrip("\n")


def test_chat_with_extra_fields_renders_through_json(model):
    msgs = [{"role": "user", "content": "Hello"}]
    plain = model.chat(msgs, max_tokens=20).read()
    # An extra field takes the JSON path (inf_chat_template_apply + ids):
    # with a template that ignores it, the reply must be the same.
    tagged = [dict(msgs[0], note="ignored by the template")]
    assert model.chat(tagged, max_tokens=20).read() == plain
    # And a template that reads it sees it.
    tmpl = "{% for m in messages %}{{ m.note }}: {{ m.content }}\n{% endfor %}"
    a = model.chat(tagged, template=tmpl, max_tokens=10).read()
    assert a == model.generate("ignored by the template: Hello\n", max_tokens=10).read()


def test_chat_template_option_and_vars(model):
    tmpl = "{{ greeting }} {{ messages[0].content }}"
    a = model.chat([{"role": "user", "content": "the jury"}], template=tmpl,
                   template_vars={"greeting": "Said"}, max_tokens=10).read()
    assert a == model.generate("Said the jury", max_tokens=10).read()
    tools = [{"type": "function", "function": {"name": "f"}}]
    t2 = "{{ tools | length }} tools; {{ messages[0].content }}"
    b = model.chat([{"role": "user", "content": "x"}], tools=tools, template=t2,
                   max_tokens=5).read()
    assert b == model.generate("1 tools; x", max_tokens=5).read()


def test_stream_close_early_and_context_manager(model):
    with model.generate("The jury said", max_tokens=200) as s:
        first = next(s)
        assert first.id == golden_prompts()[0]["greedy_ids"][0]
    assert s.done and s.error is None and s.finish_reason is None
    assert list(s) == []
    s.close()  # idempotent
