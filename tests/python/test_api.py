"""The package's surface: the library it loaded, the struct layouts, the
registry, Discover, the option table, the tokenizer and template handles."""
import ctypes
import os
import shutil
import subprocess
import sys

import pytest

import inference
from inference import _lib
from conftest import MODEL, SOURCE_DIR


def test_library_from_environment():
    want = os.environ.get("INFERENCE_LIBRARY")
    if want:
        assert inference.library_path == os.path.realpath(want)
    assert inference.library_version() == "0.2.0"


def test_library_lookup_error_names_what_it_tried():
    env = dict(os.environ, INFERENCE_LIBRARY="/nonexistent/libinference.so",
               PYTHONPATH=os.path.join(SOURCE_DIR, "bindings", "python"))
    p = subprocess.run([sys.executable, "-c", "import inference"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30,
                       cwd="/")
    assert p.returncode != 0
    assert "cannot find libinference.so" in p.stderr
    assert "/nonexistent/libinference.so (INFERENCE_LIBRARY)" in p.stderr


def test_library_from_the_build_tree_without_environment():
    env = dict(os.environ)
    env.pop("INFERENCE_LIBRARY", None)
    env["PYTHONPATH"] = os.path.join(SOURCE_DIR, "bindings", "python")
    p = subprocess.run([sys.executable, "-c", "import inference; print(inference.library_path)"],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=30, cwd="/")
    # A source tree with a build folder, or the system's library path.
    assert p.returncode == 0, p.stderr
    assert "libinference.so" in p.stdout


def _defaults_into(struct_type, fill):
    """Runs inf_*_default on a buffer twice the size of the ctypes mirror and
    reads the mirror's fields from it: the layout must match the header."""
    buf = ctypes.create_string_buffer(2 * ctypes.sizeof(struct_type))
    fill(ctypes.cast(buf, ctypes.POINTER(struct_type)))
    return struct_type.from_buffer_copy(buf.raw[:ctypes.sizeof(struct_type)])


def test_generate_options_layout_matches_the_header():
    o = _defaults_into(_lib.inf_generate_options, _lib.lib.inf_generate_options_default)
    assert o.struct_size == ctypes.sizeof(_lib.inf_generate_options)
    assert o.max_tokens == inference.INF_DEFAULT_MAX_TOKENS == 256
    assert o.seed == inference.INF_SEED_RANDOM == 2**64 - 1
    assert o.add_generation_prompt == 1
    assert (o.temperature, o.top_k, o.n_prompt_ids, o.n_stop_strings) == (0, 0, 0, 0)


def test_load_options_layout_matches_the_header():
    o = _defaults_into(_lib.inf_load_options, _lib.lib.inf_load_options_default)
    assert o.struct_size == ctypes.sizeof(_lib.inf_load_options)
    assert o.gpu_layers == -1
    assert (o.context_length, o.parallel_slots, o.n_threads, o.timeout_ms) == (0, 0, 0, 0)


def test_every_status_code_has_its_class():
    for code in range(-1, -21, -1):
        e = inference.error_for(code, "m")
        assert type(e) is not inference.InferenceError, code
        assert e.code == code
        assert e.status_name == _lib.lib.inf_status_name(code).decode()
        assert str(e) == "m"
    e = inference.error_for(-99)
    assert type(e) is inference.InferenceError and e.code == -99
    assert str(e) == "unknown status"
    assert issubclass(inference.InvalidArgumentError, ValueError)
    assert issubclass(inference.DeadlineExceededError, TimeoutError)


def test_backends_and_default():
    bs = inference.backends()
    names = [b.name for b in bs]
    assert "cpu" in names
    cpu = bs[names.index("cpu")]
    assert cpu.available and cpu.reason == "" and cpu.description
    for b in bs:
        assert b.available or b.reason  # an unavailable backend says why
    assert inference.default_backend() in names


def test_discover():
    found = inference.discover(os.path.join(SOURCE_DIR, "models"))
    by = {os.path.basename(d.path): d for d in found}
    assert by["brown-llama-8m"].model_type == "llama"
    assert by["brown-llama-8m"].quant_bits == 0 and by["brown-llama-8m"].n_safetensors == 2
    assert by["brown-llama-8m"].format == "safetensors" and by["brown-llama-8m"].n_files == 2
    assert (by["brown-llama-8m-mlx4"].quant_bits, by["brown-llama-8m-mlx4"].quant_group) == (4, 64)
    assert inference.discover(MODEL)[0].path == os.path.realpath(MODEL)
    with pytest.raises(inference.InferenceError):
        inference.discover("/nonexistent-folder")


def test_option_bounds():
    b = inference.option_bounds()
    assert b["temperature"].min == 0 and b["temperature"].max == 100
    assert b["top_p"].max == 1 and not b["top_p"].is_integer
    assert b["max_tokens"].is_integer


def test_model_info_and_type(model):
    i = model.info
    assert (i.architecture, i.backend, i.vocab_size, i.n_layers, i.hidden_size) == \
        ("llama", "cpu", 32000, 6, 192)
    assert i.context_length == 1024 and i.quant_bits == 0 and i.weight_bytes > 0
    assert (i.format, i.weight_types, i.train_context, i.chat_template) == \
        ("safetensors", "bfloat16", 1024, -1)
    assert model.model_type == "llama"
    assert model.generation_defaults()["temperature"] == 0  # brown: greedy


def test_tokenizer(model):
    t = model.tokenizer
    ids = t.encode("The jury said")
    assert ids == [1, 415, 19723, 773]
    assert t.encode("The jury said", add_special=False) == [415, 19723, 773]
    assert t.decode(ids) == "The jury said"
    assert t.decode(ids, skip_special=False).startswith("<s>")
    assert (t.bos_id, t.eos_id, t.vocab_size) == (1, 2, 32000)
    assert t.piece(415) == "\u2581The" and t.is_special(1) and not t.is_special(415)
    with inference.Tokenizer.load(MODEL) as own:
        assert own.encode("Once upon a time") == t.encode("Once upon a time")
    with pytest.raises(inference.InferenceError):
        inference.Tokenizer.load("/nonexistent-folder")


def test_chat_template(model):
    ct = model.chat_template
    assert ct.is_fallback  # brown has no template of its own: ChatML
    msgs = [{"role": "user", "content": "Hi"}]
    text = ct.apply(msgs)
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert ct.apply(msgs, add_generation_prompt=False) == "<|im_start|>user\nHi<|im_end|>\n"
    assert inference.render_chat_template(MODEL, msgs) == text
    with inference.ChatTemplate.load(MODEL) as own:
        assert own.source == ct.source
    custom = inference.ChatTemplate.parse(
        "{% for m in messages %}[{{ m.role }}|{{ m.content }}|{{ m.name }}]{% endfor %}"
        "{% if tools %}T{{ tools | length }}{% endif %}{{ x }}")
    assert custom.apply([inference.Message("user", "a", name="n")], tools=[{}, {}],
                        variables={"x": 7}) == "[user|a|n]T27"


def test_template_error_is_raised_with_the_template_message():
    bad = inference.ChatTemplate.parse("{{ raise_exception('no system role here') }}")
    with pytest.raises(inference.TemplateError) as e:
        bad.apply([{"role": "user", "content": "x"}])
    assert str(e.value) == "no system role here"
    with pytest.raises(inference.TemplateError) as e:
        inference.ChatTemplate.parse("{% for %}")
    assert "line" in str(e.value)


def test_borrowed_handles_refuse_after_close():
    m = inference.load(MODEL)
    t, ct = m.tokenizer, m.chat_template
    m.close()
    m.close()  # idempotent
    with pytest.raises(inference.StateError):
        t.encode("x")
    with pytest.raises(inference.StateError):
        ct.apply([{"role": "user", "content": "x"}])
    with pytest.raises(inference.StateError):
        m.generate("x")
    assert m.closed and "closed" in repr(m)


def test_log_callback():
    seen = []
    inference.set_log_callback(lambda level, msg: seen.append((level, msg)), inference.LOG_DEBUG)
    try:
        with inference.load(MODEL) as m:
            m.generate("x", max_tokens=1).read()
    finally:
        inference.set_log_callback(None)
    assert seen and all(isinstance(m, str) for _, m in seen)


MIRRORED = ["inf_token", "inf_message", "inf_generate_options", "inf_option_bound",
            "inf_load_options", "inf_model_info", "inf_metrics", "inf_classify_result",
            "inf_batch_result", "inf_discovered"]


def header_fields(header, name):
    """Field names of `typedef struct name { ... } name;` in order."""
    import re
    text = re.sub(r"/\*.*?\*/", "", header, flags=re.S)
    m = re.search(r"typedef struct %s \{(.*?)\} %s;" % (name, name), text, re.S)
    assert m, name
    names = []
    for decl in m.group(1).split(";"):
        decl = decl.strip()
        if not decl:
            continue
        fp = re.search(r"\(\s*\*\s*(\w+)\s*\)", decl)
        if fp:
            names.append(fp.group(1))
            continue
        for part in decl.split(","):  # double min, max
            names.append(re.search(r"(\w+)\s*(\[[^\]]*\])?$", part.strip()).group(1))
    return names


def test_struct_layouts_match_the_header(tmp_path):
    """Every struct the binding mirrors has the header's fields, in order, at
    the offsets and size a C compiler gives them."""
    with open(os.path.join(SOURCE_DIR, "include", "inference.h"), encoding="utf-8") as f:
        header = f.read()
    lines = []
    for name in MIRRORED:
        fields = header_fields(header, name)
        mirror = [f[0] for f in getattr(_lib, name)._fields_]
        assert mirror == fields, f"{name}: the binding has {mirror}, the header {fields}"
        lines.append(f'printf("{name} %zu\\n", sizeof({name}));')
        lines += [f'printf("{name}.{f} %zu\\n", offsetof({name}, {f}));' for f in fields]
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to check the offsets")
    src = tmp_path / "layout.c"
    src.write_text("#include <stddef.h>\n#include <stdio.h>\n#include <inference.h>\n"
                   "int main(void) {\n" + "\n".join(lines) + "\nreturn 0;\n}\n")
    exe = tmp_path / "layout"
    subprocess.run([cc, "-I", os.path.join(SOURCE_DIR, "include"), str(src), "-o", str(exe)],
                   check=True)
    c = dict(line.rsplit(" ", 1) for line in
             subprocess.run([str(exe)], stdout=subprocess.PIPE, text=True,
                            check=True).stdout.splitlines())
    for name in MIRRORED:
        t = getattr(_lib, name)
        assert int(c[name]) == ctypes.sizeof(t), name
        for f in t._fields_:
            assert int(c[f"{name}.{f[0]}"]) == getattr(t, f[0]).offset, f"{name}.{f[0]}"


def test_copy_weights_survives_truncation(tmp_path):
    """load(copy_weights=True) reads the weights into memory: truncating the
    files afterwards leaves the logits as the mapped load gives them."""
    d = tmp_path / "brown"
    shutil.copytree(MODEL, d)
    with inference.load(MODEL, threads=1) as m:
        want = bytes(m.logits([1, 2, 3]))
    with inference.load(str(d), threads=1, copy_weights=True) as m:
        for f in d.glob("*.safetensors"):
            os.truncate(f, 0)
        assert bytes(m.logits([1, 2, 3])) == want
