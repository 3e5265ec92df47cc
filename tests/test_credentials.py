"""Credential injection on plain data: the policy section, sources, placeholders, rewriting,
scrubbing (streamed included), the registry's reload and refresh, and the example policy."""

from __future__ import annotations

import base64
import os
import string
import sys
import textwrap
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.commands import main
from egress.policy.loader import parse_policy
from egress.policy.model import Credential, SecretSource
from egress.policy.problems import PolicyError
from egress.policy.store import PolicyStore
from egress.redact import KnownSecrets
from egress.scan.credentials import (
    ActiveCredential,
    CredentialError,
    CredentialTable,
    SourceError,
    decode_basic,
    make_placeholder,
    misplaced,
    scrub_bytes,
    verified_host,
)
from egress.scan.token_scrub import StreamScrubber, TokenScrubber
from egress.sources.credentials import CredentialRegistry, check_sources, read_source

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "policies" / "examples" / "credentials.yaml"
SECRET = "s3cr3t-value-0123456789abcdef"

BASE = """
    hosts:
      allow:
        - hosts: [api.example.com, git.example.com]
    credentials:
"""


def policy(entries: str, base: str = BASE):
    return parse_policy(textwrap.dedent(base) + textwrap.indent(textwrap.dedent(entries), "  "), "p.yaml")


def problems(entries: str) -> str:
    with pytest.raises(PolicyError) as e:
        policy(entries)
    return str(e.value)


def src(**fields: object) -> SecretSource:
    return SecretSource.model_validate(fields)


def cred(**fields: object) -> Credential:
    data: dict[str, object] = {"name": "api", "host": "api.example.com",
                               "header": "Authorization: Bearer {secret}",
                               "source": {"env": "X"}, "placeholder": {"env": "API"}}
    data.update(fields)
    return Credential.model_validate(data)


def active(spec: Credential | None = None, value: str = SECRET,
           placeholder: str = "bottle-api-0000aaaa1111bbbb2222") -> ActiveCredential:
    return ActiveCredential.build(0, spec or cred(), placeholder, value)


# -- policy ----------------------------------------------------------------------------------

def test_a_valid_section():
    p = policy("""
        - name: api
          host: API.Example.com
          path: /v1
          header: "x-api-key: {secret}"
          source: {env: API_KEY}
          placeholder: {env: API_KEY}
        - name: git
          host: git.example.com
          basic: {user: x-access-token}
          source: {command: [pass, show, git], ttl: 600}
          on_mismatch: block
          placeholder: {env: GIT_TOKEN, shape: like-secret, prefix: "ghp_"}
    """)
    api, git = p.credentials
    assert api.host == "api.example.com" and api.target_header == "x-api-key"
    assert git.target_header == "authorization" and git.source.ttl == 600


@pytest.mark.parametrize("source", ['"ghp_literalsecret1234567890"', "{value: ghp_literalsecret1234567890}",
                                    "{token: ghp_literalsecret1234567890}"])
def test_a_literal_secret_is_refused_without_repeating_it(source: str):
    text = problems(f"""
        - name: api
          host: api.example.com
          header: "Authorization: Bearer {{secret}}"
          source: {source}
          placeholder: {{env: API}}
    """)
    assert "p.yaml:" in text and "credentials[0].source" in text and "never written in a policy" in text
    assert "literalsecret" not in text


def test_a_header_without_the_slot_is_refused_without_repeating_it():
    text = problems("""
        - name: api
          host: api.example.com
          header: "Authorization: Bearer ghp_pastedliteral123456"
          source: {env: X}
          placeholder: {env: API}
    """)
    assert "p.yaml:9: credentials[0].header" in text and "pastedliteral" not in text


@pytest.mark.parametrize(("entry", "message"), [
    ("host: '*.example.com'", "wildcards are not allowed"),
    ("header: 'Host: {secret}'", "cannot be put in the Host header"),
    ("basic: {user: x}", "exactly one of `header`, `basic` or `query`"),
    ("source: {env: X, file: /y}", "exactly one of `env`, `file` or `command`"),
    ("source: {env: X, ttl: 60}", "`ttl` applies to `file` and `command`"),
    ("placeholder: {env: HTTPS_PROXY}", "set by the proxy itself"),
    ("host: denied.example.org", "not allowed by hosts.allow"),
    ("name: API", "lower-case letters"),
])
def test_invalid_entries_name_field_and_line(entry: str, message: str):
    fields = {"name": "api", "host": "api.example.com", "header": "'Authorization: Bearer {secret}'",
              "source": "{env: X}", "placeholder": "{env: API}"}
    key = entry.split(":", 1)[0]
    fields[key] = entry.split(":", 1)[1].strip()
    body = "- " + "\n  ".join(f"{k}: {v}" for k, v in fields.items())
    text = problems(body)
    assert message in text and "p.yaml:" in text, text


def test_duplicates_and_overlapping_slots_are_refused():
    text = problems("""
        - name: a
          host: api.example.com
          header: "Authorization: Bearer {secret}"
          source: {env: A}
          placeholder: {env: A}
        - name: a
          host: api.example.com
          path: /v2
          header: "authorization: token {secret}"
          source: {env: B}
          placeholder: {env: A}
    """)
    assert "already used by credentials[0]" in text
    assert "already carries the placeholder" in text
    assert "already puts a credential in the authorization header" in text


# -- sources -----------------------------------------------------------------------------------

def test_sources_read_env_file_and_command(tmp_path: Path):
    f = tmp_path / "tok"
    f.write_text(f"  {SECRET}\n")
    assert read_source(src(env="T"), {"T": SECRET}) == SECRET
    assert read_source(src(file=str(f))) == SECRET
    assert read_source(src(command=[sys.executable, "-c", f"print('{SECRET}')"])) == SECRET


@pytest.mark.parametrize(("source", "message"), [
    (src(env="NOPE_NOT_SET"), "environment variable NOPE_NOT_SET is not set"),
    (src(file="/nonexistent/tok"), "cannot read /nonexistent/tok: No such file"),
    (src(command=["false"]), "exited with status 1"),
    (src(command=["/nonexistent/helper"]), "not found"),
    (src(command=[sys.executable, "-c", f"print('{SECRET}'); raise SystemExit(3)"]),
     "exited with status 3"),
    (src(command=[sys.executable, "-c", "print('short')"]), "shorter than 8"),
    (src(command=[sys.executable, "-c", f"print('{SECRET}\\nsecond line')"]), "line breaks"),
])
def test_source_failures_name_the_source_never_the_value(source: SecretSource, message: str):
    with pytest.raises(SourceError) as e:
        read_source(source, {})
    assert message in str(e.value)
    assert SECRET not in str(e.value) and "second line" not in str(e.value)


def test_policy_check_resolves_env_and_file_but_runs_no_command(tmp_path: Path):
    marker = tmp_path / "ran"
    specs = [cred(source={"env": "TOK"}),
             cred(name="b", source={"command": ["sh", "-c", f"touch {marker}"]}, header="x-b: {secret}")]
    assert [e.message for e in check_sources(specs, {})] == ["environment variable TOK is not set"]
    assert check_sources(specs, {"TOK": SECRET}) == []
    assert not marker.exists()


# -- placeholders ----------------------------------------------------------------------------

def test_bottle_placeholders_are_fresh_per_bottle():
    a, b = make_placeholder(cred(), SECRET), make_placeholder(cred(), SECRET)
    assert a.startswith("bottle-api-") and len(a) == len("bottle-api-") + 24 and a != b


@pytest.mark.parametrize("value", ["ghp_" + "aB3" * 12, "sk-ant-api03-" + "x_Y-z9" * 15,
                                   "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv",
                                   "0123456789abcdef0123456789abcdef"])
def test_like_secret_placeholders_keep_length_prefix_and_alphabet(value: str):
    spec = cred(placeholder={"env": "API", "shape": "like-secret"})
    ph = make_placeholder(spec, value)
    assert len(ph) == len(value) and ph != value
    prefix = next((p for p in ("github_pat_", "sk-ant-api03-", "ghp_") if value.startswith(p)), "")
    assert ph.startswith(prefix)
    allowed = set(value[len(prefix):]) | set(string.ascii_letters + string.digits + "-_")
    assert set(ph[len(prefix):]) <= allowed
    if value.isalnum() and value.islower():
        assert set(ph) <= set("0123456789abcdef")


def test_like_secret_needs_enough_random_characters():
    with pytest.raises(SourceError, match="at least 16"):
        make_placeholder(cred(placeholder={"env": "API", "shape": "like-secret"}), "ghp_short12345")


# -- rewriting -----------------------------------------------------------------------------------

PH = "bottle-api-0000aaaa1111bbbb2222"


def test_placeholder_replaced_wherever_it_is_in_headers():
    c = active()
    rw = c.apply([("Authorization", f"Bearer {PH}"), ("X-Other", f"t={PH}")], [])
    assert rw.outcome == "replaced"
    assert rw.headers == [("Authorization", f"Bearer {SECRET}"), ("X-Other", f"t={SECRET}")]


def test_credential_added_when_absent_unless_told_not_to():
    assert active().apply([("Accept", "*/*")], []).headers[-1] == ("Authorization", f"Bearer {SECRET}")
    quiet = active(cred(add_if_missing=False))
    assert quiet.apply([("Accept", "*/*")], []).outcome == "unchanged"


def test_a_different_agent_credential_is_overridden_or_blocked():
    rw = active().apply([("authorization", "Bearer mine-1234567")], [])
    assert rw.outcome == "overridden" and rw.headers == [("Authorization", f"Bearer {SECRET}")]
    blocked = active(cred(on_mismatch="block")).apply([("authorization", "Bearer mine-1234567")], [])
    assert blocked.outcome == "mismatch" and not blocked.changed


def test_basic_auth_placeholder_replaced_inside_userinfo():
    c = active(cred(header=None, basic={"user": "x-access-token"}))
    sent = "Basic " + base64.b64encode(f"someone:{PH}".encode()).decode()
    rw = c.apply([("Authorization", sent)], [])
    assert rw.outcome == "replaced" and decode_basic(rw.headers[0][1]) == f"someone:{SECRET}"
    added = c.apply([], [])
    assert decode_basic(added.headers[0][1]) == f"x-access-token:{SECRET}"
    other = c.apply([("Authorization", "Basic " + base64.b64encode(b"u:other-pass").decode())], [])
    assert other.outcome == "overridden" and decode_basic(other.headers[0][1]) == f"x-access-token:{SECRET}"
    # restore puts the placeholder back for what is kept of the request
    restored, _ = c.restore(rw.headers, [])
    assert decode_basic(restored[0][1]) == f"someone:{PH}"


def test_query_parameter_credentials():
    c = active(cred(header=None, query="access_token"))
    assert c.apply([], [("a", "1"), ("access_token", PH)]).query == [("a", "1"), ("access_token", SECRET)]
    assert c.apply([], [("a", "1")]).query == [("a", "1"), ("access_token", SECRET)]
    assert c.apply([], [("access_token", "mine-1234567")]).outcome == "overridden"
    assert c.restore([], [("access_token", SECRET)])[1] == [("access_token", PH)]


def test_destination_requires_every_name_to_agree():
    assert verified_host("https", "api.example.com", "api.example.com", "api.example.com",
                         "api.example.com") == "api.example.com"
    assert verified_host("https", "api.example.com", "api.example.com", "evil.example",
                         "api.example.com") is None
    assert verified_host("https", "api.example.com", "api.example.com", None, "api.example.com") is None
    assert verified_host("https", "evil.example", "api.example.com", "api.example.com",
                         "api.example.com") is None
    assert verified_host("http", None, "api.example.com", None, "api.example.com") == "api.example.com"


def test_applies_by_scheme_and_path_prefix():
    c = active(cred(path="/v1"))
    assert c.applies("https", "/v1/messages?x=1") and not c.applies("https", "/v10")
    assert not c.applies("https", "/v1/../admin") and not c.applies("http", "/v1")
    assert active(cred(allow_http=True)).applies("http", "/")


def test_misplaced_placeholders():
    c = active()
    table = CredentialTable.of([c])
    auth = [("Authorization", f"Bearer {PH}")]
    assert misplaced(table, {"api"}, auth, "/", [], b"") is None
    assert misplaced(table, set(), auth, "/", [], b"")[1] == "request.headers.authorization"  # type: ignore[index]
    basic = [("Authorization", "Basic " + base64.b64encode(f"u:{PH}".encode()).decode())]
    assert misplaced(table, set(), basic, "/", [], b"") is not None
    assert misplaced(table, {"api"}, [], f"/x/{PH}", [], b"")[1] == "request.path"  # type: ignore[index]
    assert misplaced(table, {"api"}, [], "/", [("q", PH)], b"")[1] == "request.query"  # type: ignore[index]
    for body in (PH.encode(), urllib.parse.quote(PH).encode(), base64.b64encode(PH.encode()),
                 b"xx" + base64.b64encode(b"pad" + PH.encode()), PH.encode().hex().encode()):
        assert misplaced(table, {"api"}, [], "/", [], body)[1] == "request.body"  # type: ignore[index]
    q = active(cred(header=None, query="key"))
    assert misplaced(CredentialTable.of([q]), {"api"}, [], "/", [("key", PH)], b"") is None


# -- scrubbing -----------------------------------------------------------------------------------

def test_scrub_raw_base64_and_url_encoded_forms():
    pairs = TokenScrubber([(SECRET, PH)])
    body = (f"a {SECRET} b {base64.b64encode(SECRET.encode()).decode()} "
            f"c {urllib.parse.quote(SECRET)} d "
            + base64.b64encode(f"user:{SECRET}".encode()).decode()).encode()
    out = scrub_bytes(body, pairs)
    for form in (SECRET, base64.b64encode(SECRET.encode()).decode(), SECRET[4:-4]):
        assert form.encode() not in out
    assert PH.encode() in out and base64.b64encode(PH.encode()) in out


def test_stream_scrubber_catches_a_value_split_at_every_position():
    pairs = TokenScrubber([(SECRET, PH)])
    event = f"data: {{\"text\": \"key {SECRET} end\"}}\n\n".encode()
    for cut in range(1, len(event)):
        s = StreamScrubber(pairs)
        out = s.feed(event[:cut]) + s.feed(event[cut:]) + s.flush()
        assert out == scrub_bytes(event, pairs), cut


def test_stream_scrubber_holds_back_only_a_possible_start():
    s = StreamScrubber(TokenScrubber([(SECRET, PH)]))
    assert s.feed(b"data: one\n\n") == b"data: one\n\n"  # a complete event goes out at once
    assert s.feed(b"data: " + SECRET[:5].encode()) == b"data: "
    # The view ignores line breaks (a token may be spelled one character per line), so a
    # value that ends a chunk may go on in the next: an event closes with `}` and goes out.
    assert s.feed(SECRET[5:].encode() + b"\n\n") == b""
    assert s.feed(b'{"x": 1}\n\n') == PH.encode() + b'\n\n{"x": 1}\n\n'


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=8), st.lists(st.integers(0, 200), max_size=8))
def test_stream_scrubber_equals_whole_body_scrubbing(parts: list[bytes], cuts: list[int]):
    pairs = TokenScrubber([(SECRET, PH)])
    body = SECRET.encode().join(parts) + base64.b64encode(SECRET.encode())
    points = sorted({min(c, len(body)) for c in cuts})
    s = StreamScrubber(pairs)
    out, start = b"", 0
    for p in [*points, len(body)]:
        out += s.feed(body[start:p])
        start = p
    assert out + s.flush() == scrub_bytes(body, pairs)
    assert SECRET.encode() not in out


# -- registry ------------------------------------------------------------------------------------

def test_registry_loads_registers_and_keeps_placeholders_across_reloads():
    known = KnownSecrets()
    reg = CredentialRegistry(known)
    values = {"A": "first-value-123456", "B": "second-value-98765"}
    resolve = lambda source: values[source.env]  # noqa: E731
    reg.load([cred(source={"env": "A"})], resolve)
    ph = reg.placeholders()["api"]
    assert reg.values() == {"api": "first-value-123456"} and reg.environment() == {"API": ph}
    assert "first-value-123456" not in known.scrub("x first-value-123456 x")
    assert reg.find(f"GET /?q={ph}") == "api" and reg.find("nothing here") is None
    # same name, changed template: same placeholder, value not read again
    reg.load([cred(source={"env": "A"}, header="x-api-key: {secret}")], lambda s: 1 / 0)  # type: ignore[arg-type,return-value]
    assert reg.placeholders()["api"] == ph
    # changed source: read again, same placeholder, old value still scrubbed from responses
    reg.load([cred(source={"env": "B"})], resolve)
    c = reg.table.credentials[0]
    assert c.placeholder == ph and c.value == "second-value-98765"
    assert scrub_bytes(b"first-value-123456", c.scrub) == ph.encode()
    assert "value" not in repr(c) and "first" not in repr(reg.table)


def test_a_failing_source_changes_nothing():
    reg = CredentialRegistry()
    reg.load([cred(source={"env": "A"})], lambda s: "first-value-123456")
    before = reg.table

    def broken(source: SecretSource) -> str:
        raise SourceError("environment variable B is not set")

    with pytest.raises(CredentialError) as e:
        reg.load([cred(source={"env": "B"}), cred(name="new", header="x-n: {secret}")], broken)
    assert reg.table is before
    assert e.value.loc == ("credentials", 0, "source", "env") and "api" in str(e.value)


def test_refresh_rotates_on_ttl_and_keeps_the_old_value_on_failure(tmp_path: Path):
    f = tmp_path / "tok"
    f.write_text("rotating-value-0001")
    reg = CredentialRegistry()
    reg.load([cred(source={"file": str(f), "ttl": 60})])
    t0 = reg.table.credentials[0].next_refresh
    assert t0 is not None and reg.refresh(now=t0 - 1) == []
    f.write_text("rotating-value-0002")
    (result,) = reg.refresh(now=t0)
    assert result.rotated and reg.values()["api"] == "rotating-value-0002"
    assert "rotating-value-0001" not in reg.known.scrub("rotating-value-0001")
    os.unlink(f)
    (failed,) = reg.refresh(now=t0 + 61)
    assert failed.error and "cannot read" in failed.error
    assert reg.values()["api"] == "rotating-value-0002"


def test_a_refresh_does_not_undo_a_reload_that_changed_the_source(tmp_path: Path):
    f = tmp_path / "tok"
    f.write_text("file-value-000001")
    reg = CredentialRegistry()
    reg.load([cred(source={"file": str(f), "ttl": 60})])
    due = reg.table.credentials[0].next_refresh
    assert due is not None

    def reload_meanwhile(source: SecretSource) -> str:
        reg.load([cred(source={"env": "B"})], lambda s: "reloaded-value-0002")
        return "refreshed-value-0003"

    reg.refresh(now=due, resolve=reload_meanwhile)
    assert reg.values() == {"api": "reloaded-value-0002"}


def test_placeholders_are_found_in_host_names_whatever_their_case():
    reg = CredentialRegistry()
    reg.load([cred(placeholder={"env": "API", "shape": "like-secret"})], lambda s: "ghp_" + "aB3x" * 9)
    ph = reg.placeholders()["api"]
    assert reg.find_in_name(f"{ph.lower()}.exfil.example") == "api"
    assert reg.find_in_name(f"{ph.upper()[:10]}.example") is None


def test_hot_reload_with_an_unresolvable_source_keeps_the_old_policy(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("BOTTLE_TEST_TOKEN", SECRET)
    path = tmp_path / "p.yaml"
    good = textwrap.dedent(BASE) + textwrap.indent(textwrap.dedent("""
        - name: api
          host: api.example.com
          header: "Authorization: Bearer {secret}"
          source: {env: BOTTLE_TEST_TOKEN}
          placeholder: {env: API}
    """), "  ")
    path.write_text(good)
    store = PolicyStore.open(path)
    reg = CredentialRegistry()

    def gate(compiled, raw):
        from proxy.master import load_credentials
        load_credentials(reg, compiled, raw)

    store.add_gate(gate)
    gate(store.current, path.read_bytes())
    old = store.current
    path.write_text(good.replace("env: BOTTLE_TEST_TOKEN}", "env: NOT_SET_ANYWHERE}"))
    result = store.poll()
    assert result is not None and not result.ok and store.current is old
    assert result.error is not None
    text = str(result.error)
    assert f"{path}:10: credentials[0].source.env: credential 'api'" in text
    assert "NOT_SET_ANYWHERE is not set" in text


# -- the example policy ------------------------------------------------------------------------

def example_env() -> dict[str, str]:
    names = {"ANTHROPIC_API_KEY": "sk-ant-api03-" + "a" * 40,
             "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-" + "b" * 40,
             "GITHUB_TOKEN": "ghp_" + "c" * 36, "GITEA_TOKEN": "d" * 40,
             "OPENAI_API_KEY": "sk-proj-" + "e" * 40, "NPM_TOKEN": "npm_" + "f" * 36}
    return {f"BOTTLE_REAL_{k}": v for k, v in names.items()}


def test_the_example_policy_is_accepted_when_its_sources_are_set(monkeypatch, capsys):
    for k, v in example_env().items():
        monkeypatch.setenv(k, v)
    assert main(["policy", "check", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "credentials" in out
    p = parse_policy(EXAMPLE.read_text(), str(EXAMPLE))
    hosts = {c.host for c in p.credentials}
    assert {"api.anthropic.com", "api.github.com", "github.com", "api.openai.com",
            "registry.npmjs.org"} <= hosts
    reg = CredentialRegistry()
    reg.load(p.credentials)
    assert set(reg.environment()) >= {"ANTHROPIC_API_KEY", "GITHUB_TOKEN", "OPENAI_API_KEY"}


def test_the_example_policy_check_names_a_missing_source(monkeypatch, capsys):
    for k, v in example_env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("BOTTLE_REAL_GITHUB_TOKEN")
    assert main(["policy", "check", str(EXAMPLE)]) == 1
    err = capsys.readouterr().err
    assert f"{EXAMPLE}:" in err and "BOTTLE_REAL_GITHUB_TOKEN is not set" in err
    assert "c" * 36 not in err
