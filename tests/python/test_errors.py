"""Failures raise one exception class per INF_E_* status, carrying the
library's own message (never swallowed)."""
import pytest

import inference
from conftest import MODEL


def test_load_errors():
    with pytest.raises(inference.NotFoundError) as e:
        inference.load("/nonexistent-model-dir")
    assert "/nonexistent-model-dir" in str(e.value) and e.value.code == -6
    with pytest.raises(inference.BackendNotRegisteredError) as e:
        inference.load(MODEL, backend="no-such-backend")
    assert "no-such-backend" in str(e.value)
    with pytest.raises(inference.InvalidArgumentError) as e:
        inference.load(MODEL, context_length=-5)
    assert str(e.value) == "context_length = -5 is negative (0 = the model's)"
    with pytest.raises(inference.InvalidArgumentError) as e:
        inference.load(MODEL, threads=-1)
    assert str(e.value) == "n_threads = -1 is negative (0 = one per core)"


def test_progress_callback_errors_are_raised():
    seen = []
    with inference.load(MODEL, progress=seen.append):
        pass
    assert seen and seen[-1] == pytest.approx(1.0)

    def boom(fraction):
        raise RuntimeError("from the progress callback")
    with pytest.raises(RuntimeError, match="from the progress callback"):
        inference.load(MODEL, progress=boom)


@pytest.mark.parametrize("kw, message", [
    ({"temperature": -1}, "temperature = -1 is out of range [0, 100]"),
    ({"temperature": float("nan")}, "temperature = nan is out of range [0, 100]"),
    ({"top_p": 1.5}, "top_p = 1.5 is out of range [0, 1]"),
    ({"top_k": -3}, "top_k = -3 is out of range [0, 1e+06]"),
    ({"max_tokens": -1}, "max_tokens = -1 is out of range [0, 2.14748e+09]"),
    ({"max_tokens": 2**40}, "max_tokens = 1.09951e+12 is out of range [0, 2.14748e+09]"),
    ({"repeat_penalty": 101}, "repeat_penalty = 101 is out of range [0, 100]"),
    ({"stop": ["ok", ""]}, "stop string 1 is empty"),
])
def test_generate_option_errors_carry_the_library_message(model, kw, message):
    with pytest.raises(inference.InvalidArgumentError) as e:
        model.generate("The jury said", **kw)
    assert str(e.value) == message
    with pytest.raises(inference.InvalidArgumentError) as e:
        model.chat([{"role": "user", "content": "x"}], **kw)
    assert str(e.value) == message


def test_python_side_checks():
    with inference.load(MODEL) as m:
        with pytest.raises(inference.InvalidArgumentError):
            m.generate("x", seed=-1)
        with pytest.raises(inference.InvalidArgumentError):
            m.generate("x", seed=2**64)
        with pytest.raises(inference.InvalidArgumentError):
            m.generate("a\0b")
        with pytest.raises(inference.InvalidArgumentError):
            m.generate("x", timeout=0)
        with pytest.raises(inference.InvalidArgumentError):
            m.generate("x", timeout=1, cancel=inference.CancelToken())
        with pytest.raises(TypeError):
            m.generate("x", max_tokens="3")
        with pytest.raises(TypeError):
            m.generate(12)
        assert m.generate("x", seed=2**64 - 1, max_tokens=1).read() is not None


def test_context_length_error(model):
    with pytest.raises(inference.ContextLengthError) as e:
        model.generate("the " * 2000)
    assert str(e.value) and e.value.status_name == "E_CONTEXT_LENGTH"


def test_chat_template_error_from_chat(model):
    with pytest.raises(inference.TemplateError) as e:
        model.chat([{"role": "user", "content": "x"}],
                   template="{{ raise_exception('roles must alternate') }}")
    assert str(e.value) == "roles must alternate"


def test_message_per_thread_after_failures(model):
    # inf_model_errmsg is per thread: failures in other threads do not
    # replace this thread's message.
    import threading
    errs = {}

    def fail(name, kw):
        try:
            model.generate("x", **kw)
        except inference.InferenceError as e:
            errs[name] = str(e)
    ts = [threading.Thread(target=fail, args=(f"t{i}", {"temperature": -i - 1}))
          for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errs == {f"t{i}": f"temperature = {-i - 1} is out of range [0, 100]" for i in range(4)}
