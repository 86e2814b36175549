"""Tool calls in each native format end to end (issue 15): the bundled
model's weights and tokenizer with a Hermes (Qwen-style), a Llama 3.1-style
and a Mistral-style chat template, so the server detects each format from
the template, forces a call in that format (tool_choice "required" /
named), parses it back into tool_calls (streamed and not), and renders an
assistant turn with tool_calls and a tool result through the template for
the next turn.  The templates are compact versions of the real ones (the
markers and shapes the formats use); the model knows none of them, the
constraint makes its calls well-formed.

usage: test_toolformats.py INFERENCE_PROGRAM"""
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request

from serverlib import MODEL, Checks, Server, sse_events

prog = sys.argv[1]
T = Checks("server_toolformats")

HERMES = """{%- if tools %}<|im_start|>system
# Tools
<tools>
{%- for tool in tools %}
{{ tool | tojson }}
{%- endfor %}
</tools>
For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags.<|im_end|>
{% endif %}
{%- for message in messages %}
{%- if message.role == "assistant" and message.tool_calls %}<|im_start|>assistant
{%- for tc in message.tool_calls %}
<tool_call>
{"name": "{{ tc.function.name }}", "arguments": {{ tc.function.arguments | tojson }}}
</tool_call>
{%- endfor %}<|im_end|>
{% elif message.role == "tool" %}<|im_start|>user
<tool_response>
{{ message.content }}
</tool_response><|im_end|>
{% else %}<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""

LLAMA3 = """{{- bos_token }}{%- if tools %}<|start_header_id|>system<|end_header_id|>

Respond with a JSON for a function call: {"name": function name, "parameters": dictionary of argument name and its value}. Functions: {{ tools | tojson }}<|eot_id|>{% endif %}
{%- for message in messages %}
{%- if message.role == "assistant" and message.tool_calls %}<|start_header_id|>assistant<|end_header_id|>

{% for tc in message.tool_calls %}{"name": "{{ tc.function.name }}", "parameters": {{ tc.function.arguments | tojson }}}{% endfor %}<|eot_id|>
{%- elif message.role == "tool" %}<|start_header_id|>ipython<|end_header_id|>

{{ message.content }}<|eot_id|>
{%- else %}<|start_header_id|>{{ message.role }}<|end_header_id|>

{{ message.content }}<|eot_id|>
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>

{% endif %}"""

MISTRAL = """{{- bos_token }}{%- if tools %}[AVAILABLE_TOOLS]{{ tools | tojson }}[/AVAILABLE_TOOLS]{% endif %}
{%- for message in messages %}
{%- if message.role == "user" %}[INST] {{ message.content }}[/INST]
{%- elif message.role == "assistant" and message.tool_calls %}[TOOL_CALLS][{% for tc in message.tool_calls %}{"name": "{{ tc.function.name }}", "arguments": {{ tc.function.arguments | tojson }}, "id": "{{ tc.id }}"}{% if not loop.last %}, {% endif %}{% endfor %}]</s>
{%- elif message.role == "tool" %}[TOOL_RESULTS]{"content": {{ message.content | tojson }}, "call_id": "{{ message.tool_call_id }}"}[/TOOL_RESULTS]
{%- elif message.role == "assistant" %}{{ message.content }}</s>
{%- endif %}
{%- endfor %}"""

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "maxLength": 16},
            "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"], "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "get_time", "parameters": {"type": "object", "properties": {
            "tz": {"type": "string", "maxLength": 12}},
            "required": ["tz"], "additionalProperties": False}}},
]


def model_dir(tmp, name, template):
    """The bundled model with another chat template."""
    d = os.path.join(tmp, name)
    os.makedirs(d)
    for f in os.listdir(MODEL):
        if f != "tokenizer_config.json":
            os.symlink(os.path.join(MODEL, f), os.path.join(d, f))
    with open(os.path.join(MODEL, "tokenizer_config.json")) as f:
        cfg = json.load(f)
    cfg["chat_template"] = template
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f)
    return d


def post(url, body, stream=False):
    req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            raw, st = r.read().decode(), r.status
    except urllib.error.HTTPError as e:
        raw, st = e.read().decode(), e.code
    if stream:
        return st, sse_events(raw)
    return st, json.loads(raw)


def valid_args(name, args):
    if name == "get_weather":
        return (set(args) == {"city", "unit"} and isinstance(args["city"], str)
                and len(args["city"]) <= 16 and args["unit"] in ("celsius", "fahrenheit"))
    return name == "get_time" and set(args) == {"tz"} and isinstance(args["tz"], str)


def check_call(c, fmt, what):
    T.check(c.get("type") == "function", what + ": type function", str(c))
    if fmt == "mistral":
        T.check(len(c["id"]) == 9 and c["id"].isalnum(), what + ": a Mistral id (9 alphanumerics)",
                c["id"])
    else:
        T.check(c["id"].startswith("call_"), what + ": an id", c["id"])
    try:
        args = json.loads(c["function"]["arguments"])
    except ValueError:
        args = None
    T.check(isinstance(args, dict) and valid_args(c["function"]["name"], args),
            what + ": arguments valid for the tool", c["function"]["arguments"])
    return args


tmp = tempfile.mkdtemp()
for fmt, tmpl in (("hermes", HERMES), ("llama3", LLAMA3), ("mistral", MISTRAL)):
    d = model_dir(tmp, fmt, tmpl)
    with Server(prog, "--parallel", "2", model=d) as s:
        user = [{"role": "user", "content": "What is the weather in Paris?"}]
        prompt_tokens = None
        for seed in range(6):
            choice = "required" if seed % 2 == 0 else \
                {"type": "function", "function": {"name": "get_weather"}}
            st, r = post(s.url, {"messages": user, "tools": TOOLS, "tool_choice": choice,
                                 "parallel_tool_calls": False, "temperature": 1, "seed": seed,
                                 "max_tokens": 300})
            what = f"{fmt} seed {seed} ({json.dumps(choice)})"
            if not T.eq(st, 200, what + ": status"):
                print(r)
                continue
            ch = r["choices"][0]
            T.eq(ch["finish_reason"], "tool_calls", what + ": finish_reason")
            calls = ch["message"].get("tool_calls") or []
            if T.eq(len(calls), 1, what + ": one call"):
                check_call(calls[0], fmt, what)
                if isinstance(choice, dict):
                    T.eq(calls[0]["function"]["name"], "get_weather", what + ": the named one")
            prompt_tokens = r["usage"]["prompt_tokens"]

        # Streamed.
        st, ev = post(s.url, {"messages": user, "tools": TOOLS, "tool_choice": "required",
                              "parallel_tool_calls": False, "temperature": 1, "seed": 42,
                              "max_tokens": 300, "stream": True}, stream=True)
        T.eq(st, 200, fmt + " streamed: status")
        acc, fin = {}, None
        for e in ev[:-1]:
            c0 = json.loads(e)["choices"][0]
            for tc in c0["delta"].get("tool_calls", []):
                a = acc.setdefault(tc["index"], {"id": "", "type": "", "function": {"name": "", "arguments": ""}})
                a["id"] += tc.get("id", "")
                a["type"] = tc.get("type", a["type"])
                a["function"]["name"] += tc.get("function", {}).get("name", "")
                a["function"]["arguments"] += tc.get("function", {}).get("arguments", "")
            fin = c0["finish_reason"] or fin
        T.eq(fin, "tool_calls", fmt + " streamed: finish_reason")
        if T.eq(len(acc), 1, fmt + " streamed: one call"):
            check_call(acc[0], fmt, fmt + " streamed")

        # The next turn: the call and the tool's result go through the template.
        cid = "a1b2c3d4e" if fmt == "mistral" else "call_1"
        turn = user + [
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": cid, "type": "function",
                 "function": {"name": "get_weather",
                              "arguments": "{\"city\": \"Paris\", \"unit\": \"celsius\"}"}}]},
            {"role": "tool", "tool_call_id": cid, "content": "{\"temperature\": 21}"}]
        st, r = post(s.url, {"messages": turn, "tools": TOOLS, "temperature": 0, "max_tokens": 8})
        T.eq(st, 200, fmt + " next turn: status")
        if st == 200 and prompt_tokens:
            T.check(r["usage"]["prompt_tokens"] > prompt_tokens + 15,
                    fmt + " next turn: the call and result are in the prompt",
                    f"{r['usage']['prompt_tokens']} vs {prompt_tokens}")
        # "auto": whatever the model writes comes back (as text here).
        st, r = post(s.url, {"messages": user, "tools": TOOLS, "temperature": 0, "max_tokens": 8})
        T.eq(st, 200, fmt + " auto: status")
        s.stop(T)
T.done()
