"""The pure side of `bottle policy suggest`: prefixes, text edits, what never becomes a rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from egress.policy import suggest as sg
from egress.policy.compiled import default_policy_path
from egress.policy.loader import parse_policy


def event(host: str, method: str = "GET", path: str = "/", rule: str = "hosts/host-not-allowed",
          port: int = 443, kind: str = "http", action: str = "block") -> str:
    scanner, _, name = rule.partition("/")
    return json.dumps({"time": "2026-12-07T00:00:00.000Z", "event": kind, "host": host,
                       "port": port, "method": method, "path": path, "verdict": "block",
                       "policy": "0123456789abcdef",
                       "findings": [{"scanner": scanner, "rule": name, "action": action,
                                     "where": "request", "reason": "x"}]})


def test_prefixes_merge_shared_paths_and_never_widen_to_root() -> None:
    assert sg.path_prefixes(["/repos/a/b/issues", "/repos/a/b/pulls/1"]) == ["/repos/a/b"]
    assert sg.path_prefixes(["/repos/a/b/x", "/repos/c/d/y"]) == ["/repos/a/b/x", "/repos/c/d/y"]
    assert sg.path_prefixes(["/v1", "/v2/x"]) == ["/v1", "/v2/x"]
    assert sg.path_prefixes(["/a/b", "/a/b/c"]) == ["/a/b"]


def test_default_policy_patch_keeps_every_line_and_loads() -> None:
    text = default_policy_path().read_text()
    reading = sg.read_audit([
        event("api.example.com", "GET", "/repos/acme/w/issues?page=…"),
        event("api.example.com", "GET", "/repos/acme/w/pulls"),
        event("pypi.org", "POST", "/legacy/", rule="hosts/request-not-allowed"),
        event("example.org", "CONNECT", "", kind="connect", port=8443),
        event("gist.github.com", "POST", "/gists", rule="hosts/host-denied"),
        event("x.example.com", rule="dlp/aws-access-key"),
        event("10.0.0.1", rule="hosts/private-address"),
        event("audit.example.com", action="audit"),
    ])
    result = sg.suggest(reading, text, "default.yaml", "audit.jsonl")
    added = [line for line in result.text.splitlines() if line not in text.splitlines()]
    assert [line for line in text.splitlines() if line not in result.text.splitlines()] == []
    assert "      paths: [/repos/acme/w]" in added
    assert "      ports: [8443]" in added
    assert "      paths: [/legacy]" in added
    assert not any("gist" in line or "10.0.0.1" in line or "x.example.com" in line for line in added)
    assert "audit.example.com" in result.text  # audit mode: what enforce would refuse
    assert reading.others == {"hosts/host-denied": 1, "dlp/aws-access-key": 1,
                              "hosts/private-address": 1}
    parse_policy(result.text, "patched")
    assert result.diff.startswith("--- default.yaml\n+++ default.yaml\n")


@pytest.mark.parametrize("policy", [
    "version: 1\n",
    "version: 1\nhosts:\n  action: block\n",
    "version: 1\nhosts:\n  allow: []   # none yet\n",
    "# only a comment\n",
])
def test_policies_without_allow_rules_get_a_list(policy: str) -> None:
    reading = sg.read_audit([event("api.example.com", "GET", "/v1/models")])
    result = sg.suggest(reading, policy, "p.yaml", "audit.jsonl")
    loaded = parse_policy(result.text, "patched")
    assert [r.hosts for r in loaded.hosts.allow] == [["api.example.com"]]
    assert all(line in result.text.splitlines() for line in policy.replace("[]", "").splitlines()
               if "allow" not in line)


def test_flow_style_allow_is_a_clear_error() -> None:
    reading = sg.read_audit([event("api.example.com")])
    with pytest.raises(sg.SuggestError, match="flow style"):
        sg.suggest(reading, "version: 1\nhosts: {allow: [{hosts: [a.com]}]}\n", "p", "a")


def test_patch_that_does_not_load_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sg, "insert_rules", lambda text, rules, comment: text + "bogus: 1\n")
    reading = sg.read_audit([event("api.example.com")])
    with pytest.raises(sg.SuggestError, match="would not load"):
        sg.suggest(reading, "version: 1\n", "p", "a")


def test_secret_looking_path_segments_are_cut(tmp_path: Path) -> None:
    key = "AKIA" + "QWERTYUIOPASDFGH"
    reading = sg.read_audit([event("api.example.com", "GET", f"/v1/keys/{key}/info")])
    result = sg.suggest(reading, "version: 1\n", "p", "a")
    assert key not in result.text + result.diff
    assert "paths: [/v1/keys]" in result.text


def test_a_request_also_refused_as_private_gets_no_rule() -> None:
    both = json.dumps({"time": "2026-12-07T00:00:00Z", "event": "http", "host": "169.254.169.254",
                       "port": 80, "method": "GET", "path": "/latest/meta-data/",
                       "verdict": "block", "findings": [
                           {"scanner": "hosts", "rule": "private-address", "action": "block"},
                           {"scanner": "hosts", "rule": "host-not-allowed", "action": "block"}]})
    reading = sg.read_audit([both, event("api.example.com")])
    result = sg.suggest(reading, "version: 1\n", "p", "a")
    assert [r.host for r in result.rules] == ["api.example.com"]
    assert "169.254" not in result.text
    assert reading.others == {"hosts/private-address": 1, "hosts/host-not-allowed": 1}


def test_a_name_that_looks_like_encoded_data_gets_no_rule() -> None:
    name = "mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpi.exfil.example"
    line = json.dumps({"time": "2026-12-07T00:00:00Z", "event": "connect", "host": name,
                       "port": 443, "method": "CONNECT", "path": "", "verdict": "block",
                       "findings": [
                           {"scanner": "hosts", "rule": "host-not-allowed", "action": "block"},
                           {"scanner": "hostnames", "rule": "encoded-label", "action": "block"}]})
    reading = sg.read_audit([line])
    assert reading.refused == []
    result = sg.suggest(reading, "version: 1\n", "p", "a")
    assert result.rules == [] and name not in result.text + result.diff
