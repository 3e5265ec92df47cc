"""Where secrets sit in what agents send: shape templates for the detection benchmark.

A shape is a kind of content (prose, source code, a JSON request, code quoted inside a JSON
string, XML, YAML, .env, a log, a URL query, a command line or client config file); each has
several templates. `fill(shape, template, fmt, secret, rng)` writes one secret into one template
and returns the body as the proxy would see it, its media type and a file extension (the other
scanners read files). JSON shapes sit inside an agent request from `benchmarks.agent_corpus`.

Every third template of a shape (index % 3 == 2) belongs to the FINAL portion, as do a fixed
fifth of the formats (`is_final_family`): the benchmark tunes on the rest and evaluates the
final portion once.

`NEAR_MISSES` are the same shapes holding what is not a secret: expressions, calls,
attribute accesses, template variables, type names, placeholders, hashes and ids.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.agent_corpus import log_excerpt, prose, render, source_excerpt
from benchmarks.secret_formats import Format


@dataclass(frozen=True)
class Names:
    upper: str
    snake: str
    camel: str


def names_of(fmt_name: str) -> Names:
    snake = fmt_name.lower() if fmt_name.isupper() or "_" in fmt_name else \
        re.sub(r"(?<!^)(?=[A-Z])", "_", fmt_name).lower()
    parts = snake.split("_")
    camel = parts[0] + "".join(p.title() for p in parts[1:])
    return Names(snake.upper(), snake, camel)


Template = Callable[[Names, str, random.Random], str]


def _b64(text: str, url: bool = False) -> str:
    raw = text.encode()
    return (base64.urlsafe_b64encode(raw) if url else base64.b64encode(raw)).decode()


def _q(text: str) -> str:
    return urllib.parse.quote(text, safe="")


# Shapes whose templates carry no name: only self-identifying formats go there.
BARE = {"raw"}

TEXT_SHAPES: dict[str, list[Template]] = {
    "raw": [
        lambda n, s, g: f"Here is the token you asked for: {s}\nLet me know if it works.",
        lambda n, s, g: s,
        lambda n, s, g: f"I rotated it this morning, the new one is {s} (the old one is revoked).",
        lambda n, s, g: f"Can you check why {s} gets a 401 from the API?",
        lambda n, s, g: f"{prose(g, 1)}\n\n{s}\n\n{prose(g, 1)}",
        lambda n, s, g: f"| staging | {s} | expires 2026-01-01 |",
    ],
    "code": [
        lambda n, s, g: f'import os\n\n{n.snake} = "{s}"\nclient = connect({n.snake})\n',
        lambda n, s, g: f"const {n.camel} = '{s}';\nexport default {{ {n.camel} }};\n",
        lambda n, s, g: f'func main() {{\n\t{n.camel} := "{s}"\n\trun({n.camel})\n}}\n',
        lambda n, s, g: f'client = Client({n.snake}="{s}", timeout=30)\n',
        lambda n, s, g: f'    private static final String {n.upper} = "{s}";\n',
        lambda n, s, g: (f'resource "provider_config" "main" {{\n  {n.snake} = "{s}"\n'
                         '  region = "eu-west-1"\n}\n'),
        lambda n, s, g: f'let {n.snake} = "{s}";\n',
        lambda n, s, g: f'settings = {{\n    "{n.snake}": "{s}",\n    "debug": False,\n}}\n',
        lambda n, s, g: f'var {n.camel} = @"{s}";\n',
    ],
    "xml": [
        lambda n, s, g: f"<config>\n  <{n.camel}>{s}</{n.camel}>\n  <timeout>30</timeout>\n</config>\n",
        lambda n, s, g: f'<appSettings>\n  <add key="{n.upper}" value="{s}" />\n</appSettings>\n',
        lambda n, s, g: f"<servers><server><id>releases</id><username>deploy</username>"
                        f"<password>{s}</password></server></servers>\n",
        lambda n, s, g: f'<bean id="client"><property name="{n.camel}" value="{s}"/></bean>\n',
        lambda n, s, g: f'<properties>\n  <entry key="{n.snake}">{s}</entry>\n</properties>\n',
        lambda n, s, g: f"<credentials><{n.camel}>{s}</{n.camel}><scope>GLOBAL</scope></credentials>\n",
    ],
    "yaml": [
        lambda n, s, g: f"service:\n  name: api\n  {n.snake}: {s}\n",
        lambda n, s, g: f'credentials:\n  {n.snake}: "{s}"\n  region: us-east-1\n',
        lambda n, s, g: f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\ntype: Opaque\n"
                        f"stringData:\n  {n.snake}: {s}\n",
        lambda n, s, g: f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\ntype: Opaque\n"
                        f"data:\n  {n.snake}: {_b64(s)}\n",
        lambda n, s, g: f"services:\n  app:\n    environment:\n      - {n.upper}={s}\n",
        lambda n, s, g: f"jobs:\n  deploy:\n    env:\n      {n.upper}: {s}\n",
    ],
    "env": [
        lambda n, s, g: f"{n.upper}={s}\n",
        lambda n, s, g: f'export {n.upper}="{s}"\n',
        lambda n, s, g: f"{n.upper}='{s}'  # production\n",
        lambda n, s, g: f"[Service]\nEnvironment={n.upper}={s}\n",
        lambda n, s, g: f"FROM python:3.12\nENV {n.upper}={s}\n",
        lambda n, s, g: f'$env:{n.upper} = "{s}"\n',
    ],
    "log": [
        lambda n, s, g: f"{log_excerpt(g, 3)}\n2025-06-01T10:00:00Z [DEBUG] Using {n.upper}={s}\n",
        lambda n, s, g: f"INFO  config loaded: {n.snake}='{s}' region=us-east-1\n",
        lambda n, s, g: f"DEBUG request headers: {{'Authorization': 'Bearer {s}', 'Accept': '*/*'}}\n",
        lambda n, s, g: f"WARN  retrying with {n.snake}: {s}\n",
        lambda n, s, g: f"2025-06-01 10:00:00.123  INFO 1 --- [main] c.e.Config : {n.camel} = {s}\n",
        lambda n, s, g: f'level=debug msg="loaded credentials" {n.snake}={s}\n',
    ],
    "url": [
        lambda n, s, g: f"GET https://api.example.com/v1/items?{n.snake}={_q(s)}&page=2",
        lambda n, s, g: f"https://ingest.example.net/collect?id=7&{n.snake}={_q(s)}",
        lambda n, s, g: f"https://api.example.com/track?data={_b64(f'{n.snake}={s}')}",
        lambda n, s, g: f'curl -s "https://api.example.com/search?{n.snake}={_q(s)}"',
        lambda n, s, g: f"https://app.example.com/cb?state={_b64(json.dumps({n.snake: s}), url=True)}",
        lambda n, s, g: f"redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%3F{n.snake}%3D{_q(_q(s))}",
    ],
    "cli": [
        lambda n, s, g: f'curl -H "Authorization: Bearer {s}" https://api.example.com/v1/me',
        lambda n, s, g: f"curl -u deploy:{s} https://repo.example.com/upload -T build.tgz",
        lambda n, s, g: f"machine api.example.com login deploy password {s}\n",
        lambda n, s, g: f"registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={s}\n",
        lambda n, s, g: ("[distutils]\nindex-servers = pypi\n\n[pypi]\nusername = __token__\n"
                         f"password = {s}\n"),
        lambda n, s, g: json.dumps({"auths": {"ghcr.io": {"auth": _b64("deploy:" + s)}}}),
        lambda n, s, g: f"Server=tcp:db.example.net,1433;Database=app;User ID=app;Password={s};Encrypt=True;",
        lambda n, s, g: f"DATABASE_URL=postgres://app:{_q(s)}@db.internal:5432/app",
        lambda n, s, g: f"mysql -h db.internal -u root -p'{s}' app < dump.sql",
    ],
}

# JSON shapes: (template index) -> the agent request's messages, in agent_corpus block form.
Blocks = list[dict[str, object]]


def _request(blocks_user: Blocks, blocks_tool: Blocks | None, g: random.Random, api: str) -> bytes:
    call = f"toolu_{g.getrandbits(96):024x}"
    messages: list[dict[str, object]] = [{"role": "user", "blocks": blocks_user}]
    if blocks_tool is not None:
        messages.append({"role": "assistant", "blocks": [{"kind": "text", "text": prose(g, 1)[:300]},
                                                          {"kind": "tool_use", "id": call, "name": "bash",
                                                           "input": {"command": "cat config"}}]})
        messages.append({"role": "tool", "blocks": [{**b, "id": call} for b in blocks_tool]})
    return render(messages, api, tools=True)  # type: ignore[arg-type]


def _text(t: str) -> dict[str, object]:
    return {"kind": "text", "text": t}


def _result(t: str) -> dict[str, object]:
    return {"kind": "tool_result", "text": t}


JsonTemplate = Callable[[Names, str, random.Random, str], bytes]


def _tool_use(payload: dict[str, object], g: random.Random, api: str) -> bytes:
    call = f"toolu_{g.getrandbits(96):024x}"
    messages: list[dict[str, object]] = [
        {"role": "user", "blocks": [_text(prose(g, 1))]},
        {"role": "assistant", "blocks": [{"kind": "tool_use", "id": call, "name": "bash", "input": payload}]},
        {"role": "tool", "blocks": [{"kind": "tool_result", "id": call, "text": "ok"}]}]
    return render(messages, api, tools=True)  # type: ignore[arg-type]


JSON_SHAPES: dict[str, list[JsonTemplate]] = {
    "json": [
        lambda n, s, g, a: _tool_use({n.snake: s, "region": "eu-west-1"}, g, a),
        lambda n, s, g, a: _request([_text(f"use {n.upper}={s} for the staging run")], None, g, a),
        lambda n, s, g, a: _tool_use({"command": f"export {n.upper}={s} && make deploy"}, g, a),
        lambda n, s, g, a: _request([_text(f"I set `{n.upper}={s}` in .env, try again")], None, g, a),
        lambda n, s, g, a: json.dumps({"model": "gpt-4.1", "metadata": {n.snake: s},
                                       "messages": [{"role": "user", "content": prose(g, 1)}]}).encode(),
        lambda n, s, g, a: _request([_text(prose(g, 1))], [_result(f"{n.upper}: {s}")], g, a),
    ],
    "code_in_json": [
        lambda n, s, g, a: _request([_text("why does this fail?")],
                                    [_result(f'import os\n\n{n.snake} = "{s}"\n'
                                             f'client = connect({n.snake})\n')], g, a),
        lambda n, s, g, a: _tool_use({"path": "main.go", "old_text": "return nil",
                                      "new_text": f'{n.camel} := "{s}"\n\treturn run({n.camel})'}, g, a),
        lambda n, s, g, a: _request([_text(prose(g, 1))],
                                    [_result(json.dumps({n.snake: s, "debug": False}, indent=2))], g, a),
        lambda n, s, g, a: _request([_text(f"```js\nconst {n.camel} = \"{s}\";\n```\nis this right?")],
                                    None, g, a),
        lambda n, s, g, a: _request([_text(prose(g, 1))],
                                    [_result(f'settings:\n  {n.snake}: "{s}"\n')], g, a),
        lambda n, s, g, a: _tool_use({"content": f'{n.upper} = "{s}"\n', "path": "settings.py"}, g, a),
    ],
}

SHAPES = [*TEXT_SHAPES, *JSON_SHAPES]
EXTENSIONS = {"raw": "txt", "code": "py", "xml": "xml", "yaml": "yaml", "env": "env", "log": "log",
              "url": "txt", "cli": "txt", "json": "json", "code_in_json": "json"}


def templates(shape: str) -> int:
    return len(TEXT_SHAPES.get(shape) or JSON_SHAPES[shape])


def is_final_template(index: int) -> bool:
    return index % 3 == 2


def is_final_family(family: str) -> bool:
    return hashlib.sha256(family.encode()).digest()[0] % 5 == 0


def fill(shape: str, index: int, fmt: Format, secret: str, rng: random.Random) -> tuple[bytes, str]:
    """One body and its media type."""
    names = names_of(fmt.name)
    if shape in JSON_SHAPES:
        return JSON_SHAPES[shape][index](names, secret, rng, rng.choice(["anthropic", "openai"])), \
            "application/json"
    return TEXT_SHAPES[shape][index](names, secret, rng).encode(), "text/plain"


def applies(shape: str, fmt: Format) -> bool:
    if shape in BARE:
        return not fmt.keyword
    return True


# -- near misses: the same shapes, values that are not secrets ---------------------------------

NEAR_VALUES: list[Callable[[random.Random], str]] = [
    lambda g: "self._fp.read(1)[0]", lambda g: "os.environ['API_KEY']", lambda g: "process.env.API_KEY",
    lambda g: "${API_KEY}", lambda g: "{{ .Values.apiKey }}", lambda g: "<your-api-key>",
    lambda g: "get_token(session)", lambda g: "settings.SECRET_KEY", lambda g: "Optional[str]",
    lambda g: "None", lambda g: "changeme", lambda g: "config.credentials.password",
    lambda g: f"sha256:{g.getrandbits(256):064x}"[:20], lambda g: "request.headers.get('X-Token')",
    lambda g: "xxxxxxxxxxxxxxxxxxxxxxxx", lambda g: "$(cat /run/secrets/token)", lambda g: "%(password)s",
    lambda g: "secrets.token_urlsafe(32)", lambda g: "kwargs.pop('token', None)",
    lambda g: "T.Optional[bytes]", lambda g: "vault:secret/data/app#token", lambda g: "env(DB_PASSWORD)",
    lambda g: "getpass.getpass()", lambda g: "args.password", lambda g: "this.props.apiKey",
    lambda g: "PLACEHOLDER", lambda g: "<redacted>", lambda g: "***", lambda g: "${{ secrets.NPM_TOKEN }}",
]


def near_miss_bodies(rng: random.Random, final: bool) -> list[tuple[str, int, bytes, str]]:
    """Every (shape, template) with every near-miss value, under secret-sounding names."""
    out = []
    names = ["API_KEY", "DB_PASSWORD", "AUTH_TOKEN", "CLIENT_SECRET", "access_key"]
    for shape in SHAPES:
        if shape in BARE:
            continue
        for index in range(templates(shape)):
            if is_final_template(index) != final:
                continue
            for make in NEAR_VALUES:
                fmt = Format("near", lambda g: "", rng.choice(names), keyword=True)
                body, ctype = fill(shape, index, fmt, make(rng), rng)
                out.append((shape, index, body, ctype))
    return out


def benign_source_bodies(rng: random.Random, part: str, count: int) -> list[bytes]:
    """Plain source files (no request around them), for code-specific false positives."""
    return [source_excerpt(rng, part, 300)[1].encode() for _ in range(count)]  # type: ignore[arg-type]
