"""Structured output and forced tool calls end to end (issue 15), against
`inference serve` with the bundled model, every document checked by ajv
(validate_json.cjs):

  - response_format json_schema: N generations per schema of
    structured_schemas.json (random sampling: temperature 1, a different
    seed each), each must end by itself (finish "stop") and be valid;
  - tool_choice "required" and a named function (generic format, the
    bundled model's template has none of its own): each reply is one
    well-formed call whose arguments are valid under the tool's parameters;
    streamed once, its delta.tool_calls put back together;
  - bad input: a schema that is not one, an unknown type, an unsupported
    keyword, a schema no value satisfies, $ref chains deeper than the limit,
    a self-referencing $ref, bad tools / tool_choice: each a 400 with a
    clear message, quickly (no hang).

usage: test_structured.py INFERENCE_PROGRAM [N]   (N per schema, default 3;
the CTest test structured_output_slow runs N = 100)"""
import concurrent.futures as cf
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request

from serverlib import SKIP, Checks, Server, npm_setup, run_node, sse_events

prog = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 3
here = os.path.dirname(os.path.abspath(__file__))
mods = npm_setup({"ajv": "8.17.1", "ajv-formats": "3.0.1"})
if not mods:
    sys.exit(SKIP)
T = Checks(f"structured_output (N={N})")
SCHEMAS = json.load(open(os.path.join(here, "structured_schemas.json")))["schemas"]
T.check(len(SCHEMAS) >= 20, "at least 20 schemas", str(len(SCHEMAS)))

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "maxLength": 20},
            "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"], "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "get_time", "description": "The time in a time zone",
        "parameters": {"type": "object", "properties": {
            "tz": {"type": "string", "pattern": "^[A-Z][a-z]{2,8}/[A-Z][a-z]{2,8}$"}},
            "required": ["tz"], "additionalProperties": False}}},
]
PARAMS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}


def post(url, body, timeout=120):
    """(status, parsed JSON or raw text)."""
    req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read().decode()
            st = r.status
    except urllib.error.HTTPError as e:
        raw = e.read().decode()
        st = e.code
    try:
        return st, json.loads(raw)
    except ValueError:
        return st, raw


def msgs(text):
    return [{"role": "user", "content": text}]


docs = []  # for ajv
t0 = time.time()
with Server(prog, "--parallel", "8") as s:
    # ---- response_format json_schema ----
    jobs = []
    for name, schema in SCHEMAS.items():
        for i in range(N):
            jobs.append((name, schema, 1000 + i))

    def run_schema(job):
        name, schema, seed = job
        body = {"messages": msgs(f"Write {name} as JSON."), "temperature": 1.0, "seed": seed,
                "max_tokens": 1500,
                "response_format": {"type": "json_schema",
                                    "json_schema": {"name": name, "schema": schema,
                                                    "strict": True}}}
        return job, post(s.url, body)

    finishes = {}
    with cf.ThreadPoolExecutor(8) as ex:
        for (name, _, seed), (st, r) in ex.map(run_schema, jobs):
            if not T.check(st == 200, f"{name} seed {seed}: 200", str(r)[:300]):
                continue
            ch = r["choices"][0]
            fin = ch["finish_reason"]
            finishes[fin] = finishes.get(fin, 0) + 1
            T.check(fin == "stop", f"{name} seed {seed}: ends by itself", fin)
            docs.append({"schema": name, "text": ch["message"]["content"], "note": f"seed {seed}"})
    print(f"response_format: {len(jobs)} generations over {len(SCHEMAS)} schemas, "
          f"finish reasons {finishes}, {time.time() - t0:.1f} s", flush=True)

    # ---- forced tool calls ----
    tool_schemas = {f"tool:{k}": v for k, v in PARAMS.items()}

    def run_tool(job):
        choice, seed = job
        body = {"messages": msgs("What is the weather in Paris, and the time there?"),
                "tools": TOOLS, "tool_choice": choice, "parallel_tool_calls": False,
                "temperature": 1.0, "seed": seed, "max_tokens": 800}
        return job, post(s.url, body)

    tjobs = [("required", 500 + i) for i in range(max(N, 3))] + \
            [({"type": "function", "function": {"name": "get_time"}}, 700 + i)
             for i in range(max(N, 3))]
    with cf.ThreadPoolExecutor(8) as ex:
        for (choice, seed), (st, r) in ex.map(run_tool, tjobs):
            what = f"tool_choice {json.dumps(choice)} seed {seed}"
            if not T.check(st == 200, what + ": 200", str(r)[:300]):
                continue
            ch = r["choices"][0]
            calls = ch["message"].get("tool_calls") or []
            T.eq(ch["finish_reason"], "tool_calls", what + ": finish_reason")
            if not T.eq(len(calls), 1, what + ": one call (parallel_tool_calls false)"):
                print(json.dumps(ch)[:500])
                continue
            c = calls[0]
            T.check(c["id"].startswith("call_") and c["type"] == "function", what + ": id, type")
            name = c["function"]["name"]
            T.check(name in PARAMS, what + ": a tool's name", name)
            if isinstance(choice, dict):
                T.eq(name, "get_time", what + ": the named function")
            T.check(isinstance(c["function"]["arguments"], str), what + ": arguments as text")
            if name in PARAMS:
                docs.append({"schema": f"tool:{name}", "text": c["function"]["arguments"],
                             "note": what})

    # Streamed: delta.tool_calls chunks put back together.
    st, h = 0, None
    body = {"messages": msgs("Time in Oslo?"), "tools": TOOLS, "tool_choice": "required",
            "parallel_tool_calls": False, "temperature": 1.0, "seed": 99, "max_tokens": 800,
            "stream": True}
    req = urllib.request.Request(s.url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        events = sse_events(r.read().decode())
    T.eq(events[-1], "[DONE]", "stream ends with [DONE]")
    calls, fin = {}, None
    for e in events[:-1]:
        ch = json.loads(e)["choices"][0]
        for tc in ch["delta"].get("tool_calls", []):
            c = calls.setdefault(tc["index"], {"id": "", "name": "", "arguments": ""})
            c["id"] += tc.get("id", "")
            c["name"] += tc.get("function", {}).get("name", "")
            c["arguments"] += tc.get("function", {}).get("arguments", "")
        fin = ch["finish_reason"] or fin
    T.eq(fin, "tool_calls", "streamed finish_reason")
    T.eq(len(calls), 1, "streamed: one call")
    for c in calls.values():
        T.check(c["name"] in PARAMS and c["id"].startswith("call_"), "streamed call named", str(c))
        if c["name"] in PARAMS:
            docs.append({"schema": f"tool:{c['name']}", "text": c["arguments"], "note": "streamed"})

    # ---- bad input: a clear 400, quickly ----
    def bad_schema(schema, want_in_msg, what):
        t = time.time()
        st, r = post(s.url, {"messages": msgs("x"), "max_tokens": 5, "response_format": {
            "type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}, timeout=60)
        msg = r.get("error", {}).get("message", "") if isinstance(r, dict) else str(r)
        T.eq(st, 400, what + ": 400")
        T.check(want_in_msg in msg, what + f": the message says '{want_in_msg}'", msg)
        T.check(time.time() - t < 20, what + ": answered within 20 s")

    bad_schema("not a schema", "must be a JSON schema", "a string as schema")
    bad_schema({"type": "strnig"}, "strnig", "an unknown type")
    bad_schema({"type": "integer", "multipleOf": 3}, "multipleOf", "an unsupported keyword")
    bad_schema({"type": "string", "format": "hostname"}, "hostname", "an unsupported format")
    bad_schema({"type": "integer", "minimum": 5, "maximum": 1}, "never be satisfied",
               "an unsatisfiable schema")
    bad_schema({"type": "object", "properties": {"a": False}, "required": ["a"]},
               "never be satisfied", "a required property that cannot exist")
    # $ref chains and nesting past the grammar engine's bounds
    # (inf__grammar_limits: 10000 rules, nesting 64).
    n = 12000
    deep = {"$defs": {f"d{i}": {"type": "array", "items": {"$ref": f"#/$defs/d{i + 1}"}}
                      for i in range(n)}, "$ref": "#/$defs/d0"}
    deep["$defs"][f"d{n}"] = {"type": "integer"}
    bad_schema(deep, "10000 rules", f"a $ref chain {n} deep")
    nested = {"type": "integer"}
    for _ in range(300):
        nested = {"type": "array", "items": nested}
    bad_schema(nested, "", "schemas nested 300 deep")
    bad_schema({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
                "$ref": "#/$defs/a"}, "", "two $refs that only refer to each other")
    bad_schema({"$ref": "#"}, "", "a $ref to itself")
    bad_schema({"$ref": "https://example.com/s.json"}, "", "a remote $ref")

    def bad_req(extra, want_in_msg, what):
        st, r = post(s.url, dict({"messages": msgs("x"), "max_tokens": 5}, **extra), timeout=60)
        msg = r.get("error", {}).get("message", "") if isinstance(r, dict) else str(r)
        T.eq(st, 400, what + ": 400")
        T.check(want_in_msg in msg, what + f": the message says '{want_in_msg}'", msg)

    bad_req({"tools": {"x": 1}}, "'tools' must be an array", "tools not an array")
    bad_req({"tools": [{"type": "function", "function": {"name": "bad name"}}]},
            "may hold only", "a tool name with a space")
    bad_req({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "not one of the 'tools'", "tool_choice naming a missing tool")
    bad_req({"tool_choice": "required"}, "has no 'tools'", "required without tools")
    bad_req({"tools": TOOLS, "tool_choice": "sometimes"}, "'tool_choice' must be",
            "an unknown tool_choice")
    bad_req({"tools": [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"n": {"type": "number", "multipleOf": 2}}}}}],
        "tool_choice": "required"}, "multipleOf", "a tool schema with an unsupported keyword")
    bad_req({"response_format": {"type": "xml"}}, "must be \"text\"", "an unknown response_format")
    # The server still serves after all that.
    st, r = post(s.url, {"messages": msgs("Hello"), "max_tokens": 4})
    T.eq(st, 200, "a plain request after the bad ones")

    # The official openai npm SDK: tool round trip, streamed and not,
    # response_format json_schema.
    if N <= 3:
        rc = run_node(os.path.join(here, "tools_client.cjs"), {"BASE_URL": s.url}, mods)
        T.eq(rc, 0, "tools_client.cjs (openai npm SDK) exit status")
    s.stop(T)

with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    json.dump({"schemas": dict(SCHEMAS, **tool_schemas), "docs": docs}, f)
    path = f.name
rc = run_node(os.path.join(here, "validate_json.cjs"), {}, mods, [path])
T.eq(rc, 0, "ajv: every document valid")
os.unlink(path)
T.check(len(docs) >= len(SCHEMAS) * N, "documents validated", str(len(docs)))
print(f"total {time.time() - t0:.1f} s", flush=True)
T.done()
