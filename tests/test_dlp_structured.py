"""Structured scanning of request bodies (`egress.scan.dlp.structured`): JSON, NDJSON, form,
multipart, XML and SSE bodies are parsed once, their decoded values scanned in one pass and
each finding located by its path; a body that does not parse, or is beyond a bound, is
scanned raw (never not at all)."""

from __future__ import annotations

import base64
import json
import random
import re
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egress.policy.store import load_compiled
from egress.scan.dlp import structured
from egress.scan.dlp.engine import DLPEngine
from egress.scan.dlp.rule_search import within_walls as _within_walls
from egress.scan.dlp.rules.catalogue import BUDGET_RULE
from egress.sources.dlp_catalogue import dlp_engine, load_catalogue
from tests.test_dlp_e2e import github_token

REPO = Path(__file__).resolve().parents[1]

ENGINE = dlp_engine()
SECRET = github_token("Zp4Lm8Qx2Rv6Tn0Wb3Yc7Kd1Hf5Js9")
# A value only the keyword-assignment rule finds (no provider format).
GENERIC = "897TJ1xQ9vLmZ3kP8rT2wY6uB4nC0eHs"
JSON = "application/json"


def found(body: bytes | str, content_type: str | None = JSON,
          engine: DLPEngine = ENGINE) -> dict[str, set[str]]:
    data = body.encode() if isinstance(body, str) else body
    out: dict[str, set[str]] = {}
    for m in engine.scan_body(data, content_type):
        out.setdefault(m.rule, set()).add(m.where)
    return out


def escaped(text: str) -> str:
    """Every character as a JSON `\\uXXXX` escape."""
    return "".join(f"\\u{ord(c):04x}" for c in text)


# -- JSON ------------------------------------------------------------------------------------

def test_a_json_value_is_found_at_its_path() -> None:
    doc = {"model": "m", "messages": [{"role": "user", "content": "hi"}] * 3 + [
        {"role": "user", "content": [{"type": "text", "text": f"use {SECRET} please"}]}]}
    assert found(json.dumps(doc))["github-token"] == {"request.body.json[messages][3][content][0][text]"}


def test_code_with_escaped_quotes_inside_a_json_string_is_found() -> None:
    """The issue's case: `apiKey := \\"...\\"` inside a JSON string. Scanned raw, the
    escaped quotes stand between the name and the value."""
    body = '{"content":"func main() {\\n\\tapiKey := \\"' + GENERIC + '\\"\\n}"}'
    assert json.loads(body)["content"].count('"') == 2
    result = found(body)
    assert result["generic-secret-assignment"] == {"request.body.json[content]"}
    [m] = [m for m in ENGINE.scan_body(body.encode(), JSON) if m.rule == "generic-secret-assignment"]
    # The raw (escaped) form is among the fragments: what artefacts are scrubbed of and what a
    # redaction replaces in the body as sent.
    assert any(f in body for f in m.fragments if GENERIC in f)


def test_a_fully_unicode_escaped_token_is_found_and_its_raw_form_kept() -> None:
    body = '{"a": {"b": ["x", "' + escaped(SECRET) + '"]}}'
    [m] = [m for m in ENGINE.scan_body(body.encode(), JSON) if m.rule == "github-token"]
    assert m.where == "request.body.json[a][b][1]"
    assert escaped(SECRET) in m.fragments


def test_a_key_can_carry_a_secret() -> None:
    [where] = found(json.dumps({"outer": {SECRET: 1}}))["github-token"]
    assert where.startswith("request.body.json[outer][")
    assert found(json.dumps({SECRET: "v"}))["github-token"]


def test_a_location_never_spells_the_secret_it_locates() -> None:
    # The key is the secret: its path segment is redacted, whatever the value below it is.
    for doc in ({"cfg": {SECRET: 1}}, {"cfg": {SECRET: {"a": "b"}}}, {SECRET: "v"}):
        wheres = found(json.dumps(doc))["github-token"]
        assert wheres and all(SECRET not in w and "<redacted>" in w for w in wheres), wheres
    # An over-long key elsewhere on the path is shown by its length, not spelled out.
    long_key = "k" * 100
    wheres = found(json.dumps({long_key: {"v": SECRET}}))["github-token"]
    assert wheres == {"request.body.json[<100 chars>][v]"}


def test_keyword_and_value_as_a_pair() -> None:
    pair = found(json.dumps({"api_key": GENERIC}))
    assert pair["generic-secret-assignment"] == {"request.body.json[api_key]"}
    # A key whose value is an object is no pair: nothing is assigned to `api_key` here.
    assert "generic-secret-assignment" not in found(json.dumps({"api_key": {"id": GENERIC}}))


def test_numbers_are_entries_as_written() -> None:
    doc = structured.parse('{"n": 1e5, "m": [12345678901234567890, -0.5]}', "json", "b")
    assert {'"n": 1e5', "12345678901234567890", "-0.5"} <= set(doc.texts)
    assert doc.labels[doc.texts.index("-0.5")] == "b.json[m][1]"
    assert doc.values == []  # numbers are not glued by the split scan


def test_a_secret_split_across_values_is_rebuilt() -> None:
    half = len(SECRET) // 2
    assert found(json.dumps({"a": SECRET[:half], "b": SECRET[half:]})) == {
        "github-token": {"request.body.json(values joined)"}}


def test_a_rule_across_members_still_holds() -> None:
    """Some rules read several members (a service-account JSON: its `type` and its
    `private_key`): they run over the raw body too."""
    sa = {"type": "service_account", "project_id": "p", "private_key_id": "a" * 40,
          "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEv" + "Q" * 80 + "\n-----END PRIVATE KEY-----\n",
          "client_email": "x@p.iam.gserviceaccount.com"}
    raw_rules = set(found(json.dumps(sa), "text/plain; charset=utf-8-not-json"))
    assert set(found(json.dumps(sa))) >= raw_rules - {BUDGET_RULE}


# -- other formats -----------------------------------------------------------------------------

def test_ndjson_line_and_path() -> None:
    lines = [json.dumps({"i": i}) for i in range(4)] + [json.dumps({"x": SECRET})]
    assert found("\n".join(lines), "application/x-ndjson")["github-token"] == {"request.body.ndjson[4][x]"}


def test_form_field_percent_and_plus_encoded() -> None:
    body = "a=1&password=" + urllib.parse.quote_plus(f"{GENERIC}") + "&token=" + "".join(
        f"%{b:02X}" for b in SECRET.encode())
    result = found(body, "application/x-www-form-urlencoded")
    assert result["github-token"] == {"request.body.form[token]"}
    assert "request.body.form[password]" in result["generic-secret-assignment"]
    [m] = [m for m in ENGINE.scan_body(body.encode(), "application/x-www-form-urlencoded")
           if m.rule == "github-token"]
    assert any(f.startswith("%67%68%70%5F") for f in m.fragments)  # the raw form, for redaction


def test_multipart_field_is_located_by_name() -> None:
    body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\n"
            + f"x {SECRET} y".encode() + b"\r\n--b--\r\n")
    assert "request.body.multipart[file]" in found(body, "multipart/form-data; boundary=b")["github-token"]


def test_xml_element_attribute_entities_and_cdata() -> None:
    ent = "".join(f"&#x{ord(c):x};" for c in SECRET)
    def where(body: str) -> set[str]:
        return found(body, "application/xml")["github-token"]

    assert where(f"<a><b><secret>{ent}</secret></b></a>") == {"request.body.xml[/a/b/secret]"}
    assert where(f'<a><b><c k="{SECRET}"/></b></a>') == {"request.body.xml[/a/b/c/@k]"}
    assert where(f"<a><b/><d><![CDATA[x {SECRET}]]></d></a>") == {"request.body.xml[/a/d]"}
    assert where(f"<a><b/>tail {SECRET}</a>") == {"request.body.xml[/a]"}


def test_sse_request_body() -> None:
    body = f'event: x\ndata: {{"q": "{escaped(SECRET)}"}}\n\ndata: hello\n\n'
    assert found(body, "text/event-stream")["github-token"] == {"request.body.sse[0][data][q]"}


# -- fallbacks: never less than a raw scan ------------------------------------------------------

def _raw_only(result: dict[str, set[str]]) -> bool:
    return result.get("github-token") == {"request.body"}


def test_malformed_json_is_scanned_raw() -> None:
    assert _raw_only(found('{"a": "' + SECRET + '", oops}'))


def test_too_deep_json_is_scanned_raw() -> None:
    depth = structured.MAX_DEPTH + 1
    body = '{"a":' * depth + f'"{SECRET}"' + "}" * depth
    assert _raw_only(found(body))
    # and one level less is structured
    depth -= 2
    assert found('{"a":' * depth + f'"{SECRET}"' + "}" * depth)["github-token"] != {"request.body"}


def test_too_many_nodes_is_scanned_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(structured, "MAX_NODES", 10)
    assert _raw_only(found(json.dumps({"a": list(range(20)), "b": SECRET})))


def test_too_large_is_scanned_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(structured, "MAX_CHARS", 100)
    assert _raw_only(found(json.dumps({"a": "x" * 100, "b": SECRET})))


def test_over_the_time_budget_is_scanned_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(structured, "MAX_SECONDS", -1.0)
    monkeypatch.setattr(structured, "_CLOCK_EVERY", 1)
    assert _raw_only(found(json.dumps({"a": [1, 2, 3], "b": SECRET})))


def test_xml_with_a_doctype_or_malformed_is_scanned_raw() -> None:
    assert _raw_only(found(f'<!DOCTYPE a [<!ENTITY e "x">]><a>{SECRET}&e;</a>', "application/xml"))
    assert _raw_only(found(f"<a><b>{SECRET}</a>", "application/xml"))


def test_bad_form_and_ndjson_are_scanned_raw() -> None:
    with pytest.raises(structured.Unstructured):
        structured.parse(f"a=%zz&t={SECRET}", "form", "b")
    assert found(f"a=%zz&t={SECRET}", "application/x-www-form-urlencoded")["github-token"]
    assert _raw_only(found(json.dumps({"x": 1}) + "\nnot json " + SECRET, "application/x-ndjson"))


# -- the wall between entries ------------------------------------------------------------------

def test_no_match_spans_the_wall() -> None:
    wall = structured.SEPARATOR
    pattern = re.compile(r"BEGIN[\s\S]{0,50}?END")
    text = "x BEGIN a" + wall + "b END y" + wall + "BEGIN c END"
    assert [m.group() for m in _within_walls(pattern, text)] == ["BEGIN c END"]
    assert [m.group() for m in _within_walls(pattern, "BEGIN x END" + wall + "BEGIN y END")] == [
        "BEGIN x END", "BEGIN y END"]


def test_every_rule_that_can_cross_a_wall_is_run_within_walls() -> None:
    crossers = {ENGINE.rules[i].id for i in ENGINE._wall_crossers}
    assert "private-key" in crossers  # `[\s\S]` matches anything
    assert "github-token" not in crossers


# -- equivalence: the joined scan finds what each value alone finds ------------------------------

EXAMPLES = sorted({ex for r in load_catalogue() for ex in r.examples if 8 <= len(ex) <= 200})


def _encode(node: Any, rng: random.Random) -> str:
    """JSON text of `node` with strings escaped in every way JSON allows, chosen at random."""
    if isinstance(node, dict):
        return "{" + ", ".join(_encode(k, rng) + ": " + _encode(v, rng) for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ",".join(_encode(v, rng) for v in node) + "]"
    if isinstance(node, str):
        out = []
        for c in node:
            roll = rng.random()
            if c in '"\\' or ord(c) < 0x20:
                out.append(json.dumps(c)[1:-1] if roll < 0.5 else f"\\u{ord(c):04x}")
            elif c == "/" and roll < 0.5:
                out.append("\\/")
            elif roll < 0.15 and ord(c) <= 0xFFFF:
                out.append(f"\\u{ord(c):04X}" if roll < 0.07 else f"\\u{ord(c):04x}")
            else:
                out.append(c)
        return '"' + "".join(out) + '"'
    return json.dumps(node)


_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
_value = st.one_of(_text, st.sampled_from(EXAMPLES),
                   st.tuples(_text, st.sampled_from(EXAMPLES), _text).map(
                       lambda t: f'{t[0]} token = "{t[1]}"\n{t[2]}'),
                   st.integers(), st.booleans(), st.none())
_docs = st.recursive(_value, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(_text, st.sampled_from(EXAMPLES)), inner,
                                                 max_size=4)), max_leaves=12)


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (k, *_strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_docs, seed=st.integers(0, 2**32))
def test_the_json_body_finds_every_rule_its_values_find(doc: Any, seed: int) -> None:
    body = _encode(doc, random.Random(seed))
    assert json.loads(body) == doc
    alone = {m.rule for s in _strings(doc) for m in ENGINE.scan(s, "v")} - {BUDGET_RULE}
    whole = {m.rule for m in ENGINE.scan_body(body.encode(), JSON)}
    assert alone <= whole, (alone - whole, body)


def _pem_with(inside: str) -> str:
    rng = random.Random(7)  # not DER: only the PEM frame says it is a key
    lines = [base64.b64encode(rng.randbytes(48)).decode() for _ in range(4)]
    return ("-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(lines[:2]) + inside + "\n".join(lines[2:])
            + "\n-----END RSA PRIVATE KEY-----")


def test_a_wall_sent_by_the_client_is_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wall's characters inside a value or a raw body do not stop a match: only the
    walls the engine put between entries do."""
    pem = _pem_with(structured.SEPARATOR)
    assert "private-key" in found(pem, "text/plain")
    monkeypatch.setattr(DLPEngine, "_raw_cross", lambda self, t, w, c, chars: [])
    assert found(json.dumps({"a": pem}))["private-key"] == {"request.body.json[a]"}
    assert found(json.dumps({"a": _pem_with("\n")}))["private-key"] == {"request.body.json[a]"}


@pytest.mark.parametrize("value", ["", "short", "a" * 299, "a" * 300, "a" * 301, "line\nnext",
                                   "x" * 299 + "\nrest", "x" * 300 + "\n", "\n", "\u00e9\n\u00e9"])
def test_a_keyed_value_pair_holds_its_head(value: str) -> None:
    """The walk writes a keyed string's pair with the value's head inline: the same text
    `structured._head` gives (up to the first line break and `PAIR_HEAD` characters, the
    closing quote only when that is all of the value)."""
    parsed = structured.parse(json.dumps({"api_key": value}), "json", "request.body")
    head, whole = structured._head(value)
    assert parsed.texts[0] == (f'"api_key": "{head}"' if whole else f'"api_key": "{head}')


@pytest.mark.parametrize("content_type, body", [
    ("application/json", '{"a": ["%s"]}'),
    ("application/x-ndjson", '{"a": 1}\n{"b": "%s"}\n'),
    ("application/x-www-form-urlencoded", "a=1&b=%s"),
    ("application/xml", "<a><b>%s</b></a>"),
    ("text/event-stream", "data: %s\n\n"),
])
def test_a_served_policy_compiles_nothing_inside_a_scan(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content_type: str, body: str) -> None:
    """A policy loaded to judge flows has every restricted prefilter of the raw cross-entry
    pass built already: under load, compiling one inside the first structured body's scan
    ran past `limits.scan_timeout` and refused that body as `scan-timeout`."""
    path = tmp_path / "policy.yaml"
    path.write_text((REPO / "policies" / "default.yaml").read_text())
    engine = load_compiled(path).dlp

    def no_compile(*_: object, **__: object) -> object:
        raise AssertionError("a prefilter was compiled inside a scan")

    monkeypatch.setattr(engine, "_prefilters", no_compile)
    found = engine.scan_body((body % SECRET).encode(), content_type)
    assert "github-token" in {m.rule for m in found}
