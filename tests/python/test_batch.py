"""Classify and BatchGenerate give what the inference program's classify
and batch print for the same prompts (the same library calls in C)."""
import json
import os
import struct
import tempfile

import pytest

import inference
from conftest import MODEL, run_cli

PROMPTS = ["The jury said", "Once upon a time", "In the morning, the",
           "He asked whether the", "It was the best of"]


def _cli_jsonl(sub, *args):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(PROMPTS) + "\n")
    try:
        out = run_cli(sub, "-m", MODEL, f.name, "--quiet", *args)
    finally:
        os.unlink(f.name)
    return [json.loads(l) for l in out.decode().splitlines()]


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def test_classify_equals_the_cli(model):
    want = _cli_jsonl("classify")
    got = model.classify(PROMPTS)
    assert [(r.token_id, r.text) for r in got] == [(w["token_id"], w["text"]) for w in want]
    assert all(r.logits is None and r.error is None for r in got)


def test_classify_logits_equal_the_cli(model):
    want = _cli_jsonl("classify", "--logits")
    got = model.classify(PROMPTS, logits=True)
    for r, w in zip(got, want):
        assert r.logits.typecode == "f" and len(r.logits) == len(w["logits"]) == 32000
        # Not bit-for-bit: the library's own classify logits vary in the
        # last bits from run to run (two runs of the program differ too).
        assert max(abs(a - f32(b)) for a, b in zip(r.logits, w["logits"])) < 1e-4
        assert max(range(32000), key=r.logits.__getitem__) == r.token_id


def test_classify_logits_with_numpy(model):
    np = pytest.importorskip("numpy")
    r = model.classify(PROMPTS[:1], logits=True)[0]
    a = np.frombuffer(r.logits, dtype=np.float32)
    assert a.shape == (32000,) and int(a.argmax()) == r.token_id


def test_batch_generate_equals_the_cli(model):
    want = _cli_jsonl("batch", "--max-tokens", "24")
    got = model.batch_generate(PROMPTS, max_tokens=24)
    for r, w in zip(got, want):
        assert r.text == w["text"] and r.token_ids == w["token_ids"]
        assert r.finish_reason == w["finish_reason"] and r.error is None
        assert (r.metrics.prompt_tokens, r.metrics.generated_tokens) == \
            (w["prompt_tokens"], w["generated_tokens"])
    # and equals generating each prompt alone
    for p, r in zip(PROMPTS, got):
        assert model.generate(p, max_tokens=24).read() == r.text


def test_per_prompt_errors(model):
    long = "the " * 2000  # past the 1024-token context
    with pytest.raises(inference.ContextLengthError) as e:
        model.classify(["The jury said", long])
    assert e.value.index == 1 and str(e.value)
    rs = model.classify(["The jury said", long], errors="return")
    assert rs[0].token_id == 400 and rs[0].error is None
    assert isinstance(rs[1].error, inference.ContextLengthError) and rs[1].token_id == -1
    rs = model.batch_generate([long, "The jury said"], max_tokens=4, errors="return")
    assert isinstance(rs[0].error, inference.ContextLengthError)
    assert rs[1].text == 'he was a "' and rs[1].error is None
    with pytest.raises(inference.ContextLengthError):
        model.batch_generate([long], max_tokens=4)
    with pytest.raises(TypeError):
        model.classify("one string, not a list")
