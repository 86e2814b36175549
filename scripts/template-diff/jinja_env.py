"""A Jinja2 environment configured the way transformers' apply_chat_template
configures it (written from its documented behaviour): immutable sandbox,
trim_blocks, lstrip_blocks, the loopcontrols extension, a tojson filter that
is json.dumps(ensure_ascii=False, indent, separators, sort_keys), and the
globals raise_exception(msg) and strftime_now(fmt)."""
import json
from datetime import datetime

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment


def _tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                      separators=separators, sort_keys=sort_keys)


def _raise(message):
    raise TemplateError(message)


def _strftime_now(fmt):
    return datetime.now().strftime(fmt)


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = _strftime_now
    return env


def render(env, source, messages, add_generation_prompt, tools=None, extra=None, special=None):
    """Returns (True, text) or (False, error message)."""
    kw = dict(special or {})
    kw.update(extra or {})
    try:
        t = env.from_string(source)
        return True, t.render(messages=messages, tools=tools, documents=None,
                              add_generation_prompt=add_generation_prompt, **kw)
    except Exception as e:  # noqa: BLE001 - any failure is a result to compare
        return False, "%s: %s" % (type(e).__name__, e)
