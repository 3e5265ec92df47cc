"""The DLP rule catalogue: every rule's own examples and near misses, on both prefilter
backends, and the development corpora (pipelock-rules: hard; gitleaks: advisory)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from egress.scan.dlp.engine import DLPEngine
from egress.scan.dlp.prefilter.backends import BACKENDS, default_backend
from egress.scan.dlp.rules.catalogue import parse_catalogue
from egress.sources.dlp_catalogue import dlp_engine, load_catalogue, rule_reference

RULES = load_catalogue()
CORPORA = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora" / "dev"
ISSUE_PROVIDERS = [
    "anthropic", "openai", "google", "aws", "azure", "github", "gitlab", "slack", "stripe",
    "huggingface", "npm", "pypi", "docker", "databricks", "replicate", "together", "groq", "xai",
    "openrouter", "perplexity", "tavily", "pinecone", "fireworks", "digitalocean", "vault",
    "vercel", "supabase", "linear", "notion", "sentry", "sendgrid", "mailgun", "twilio",
    "discord", "newrelic", "shopify", "doppler", "onepassword", "pulumi", "buildkite",
    "database-uri", "private-key", "jwt", "crypto-wif", "crypto-extended", "crypto-hex",
    "payment-card", "iban",
]


@pytest.fixture(scope="module", params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> DLPEngine:
    return dlp_engine(backend=request.param)


def test_catalogue_shape() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", i) for i in ids)
    assert all(r.examples and r.near_misses and r.description for r in RULES)
    assert set(rule_reference()) == {*ids, "known-secret", "decode-budget-exhausted", "example-key"}
    for provider in ISSUE_PROVIDERS:
        assert any(i.startswith(provider) for i in ids), provider
    assert default_backend() == "hyperscan"  # the wheel installs on this platform


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_examples(engine: DLPEngine, rule) -> None:
    for example in rule.examples:
        found = {m.rule for m in engine.scan(example, "test")}
        assert rule.id in found, f"{rule.id} missed its example {example[:60]!r} (found {found})"
    for near in rule.near_misses:
        # A documentation example is reported (audit) by `example-key`, never by the rule.
        flagged = [m.rule for m in engine.scan(near, "test") if m.rule != "example-key"]
        assert not flagged, f"{rule.id} near miss {near[:60]!r} flagged by {flagged}"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_examples_survive_encoding(rule) -> None:
    """Recall includes encoded copies: each example base64- and URL-encoded is still found."""
    import base64
    import urllib.parse
    engine = dlp_engine()
    for example in rule.examples:
        for encoded in (base64.b64encode(example.encode()).decode(),
                        urllib.parse.quote(example, safe=""),
                        example.encode().hex()):
            assert engine.scan(encoded, "test"), f"{rule.id}: encoded example not found: {encoded[:60]}"


def test_bad_catalogue_entries_are_refused() -> None:
    from egress.scan.dlp.rules.catalogue import CatalogueError
    base = "rules:\n  - id: x\n    description: d\n    regex: 'abc'\n"
    with pytest.raises(CatalogueError, match="example"):
        parse_catalogue(base)
    with pytest.raises(CatalogueError, match="validator"):
        parse_catalogue(base + "    validator: nope\n    examples: [abc]\n    near_misses: [abd]\n")
    with pytest.raises(CatalogueError, match="regex"):
        parse_catalogue(base.replace("'abc'", "'(('") + "    examples: [a]\n    near_misses: [b]\n")


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_pipelock_dlp_corpus(engine: DLPEngine) -> None:
    folder = CORPORA / "pipelock-rules" / "dlp"
    files = sorted(folder.glob("*.txt"))
    assert files, f"corpus missing at {folder}"
    wrong = []
    for f in files:
        positive = f.name.endswith("-true-positive.txt")
        for line in _lines(f):
            found = [m.rule for m in engine.scan(line, "corpus")]
            if bool(found) != positive:
                wrong.append(f"{f.name}: {line!r} -> {found}")
    assert not wrong, "\n".join(wrong)


def test_gitleaks_corpus_advisory(capsys: pytest.CaptureFixture[str]) -> None:
    """Advisory: measured and printed, not asserted (the corpus README explains why; the
    catalogue's `notes` document each deliberate difference)."""
    engine = dlp_engine()
    tp = _lines(CORPORA / "gitleaks" / "true-positives.txt")
    fp = _lines(CORPORA / "gitleaks" / "false-positives.txt")
    recall = sum(bool(engine.scan(x, "c")) for x in tp) / len(tp)
    found = [engine.scan(x, "c") for x in fp]
    blocked = sum(any(m.action == "block" for m in f) for f in found) / len(fp)
    examples = sum(bool(f) and all(m.rule == "example-key" for m in f) for f in found) / len(fp)
    with capsys.disabled():
        print(f"\ngitleaks advisory: recall {recall:.1%} of {len(tp)}, "
              f"blocked {blocked:.1%} of {len(fp)} source-code false positives "
              f"(reported as example keys: {examples:.1%})")


# Documentation and test examples in providers' formats: visible, never silently dropped.
DOC_EXAMPLES = [
    ("aws-access-key-id", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE"),
    ("aws-secret-access-key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("openai-project-key", "sk-proj-FAKEfakeFAKE1234fake5678fakeFAKE9012fakeFAKE3456"),
    ("stripe-secret-key", "stripe.api_key = 'sk_test_4eC39HqLyjWDarjtT1zdp7dc'"),
    ("anthropic-api-key",
     "sk-ant-api03-abc123xyz-456def789ghij-klmnopqrstuvwx-3456yza789bcde-1234fghijklmnopAA"),
    ("github-token", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
]


@pytest.mark.parametrize(("rule", "text"), DOC_EXAMPLES, ids=[r for r, _ in DOC_EXAMPLES])
def test_documentation_example_keys_are_reported_by_policy(rule: str, text: str) -> None:
    from egress.policy.model import DLPSection
    by_mode = {mode: dlp_engine(DLPSection.model_validate({"example_keys": mode})).scan(text, "t")
               for mode in ("audit", "block", "ignore")}
    audit = by_mode["audit"]
    assert [(m.rule, m.action) for m in audit] == [("example-key", "audit")], audit
    assert rule in audit[0].reason and "example" in audit[0].reason
    assert [(m.rule, m.action) for m in by_mode["block"]] == [("example-key", "block")]
    assert by_mode["ignore"] == []
    # An explicit per-rule action still wins over the mode.
    strict = dlp_engine(DLPSection.model_validate({"example_keys": "ignore",
                                                  "actions": {"example-key": "block"}}))
    assert [(m.rule, m.action) for m in strict.scan(text, "t")] == [("example-key", "block")]


def test_templates_and_generic_examples_stay_silent() -> None:
    """Templates (nothing filled in) and example values under generic names are not keys."""
    engine = dlp_engine()
    for text in ("sk_live_xxxxxxxxxxxxxxxxxxxxxxxx", "AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID}",
                 "password = 'example-password-123'", "api_key: <your-api-key>",
                 "ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"):
        assert engine.scan(text, "t") == [], text


def test_a_real_key_dressed_as_an_example_is_still_a_key() -> None:
    """A marker or counting run glued to or into a real key does not make it an example:
    what is left without them is still a key of the rule, so the rule blocks it."""
    engine = dlp_engine()
    real = RULES[[r.id for r in RULES].index("anthropic-api-key")].examples[0]
    github = "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"
    for text, rule in ((real + "EXAMPLE", "anthropic-api-key"),
                       (real[:40] + "FAKE" + real[40:], "anthropic-api-key"),
                       (real + "abcdefghijklmnop", "anthropic-api-key"), (github + "SAMPLE", "github-token")):
        assert [(m.rule, m.action) for m in engine.scan(text, "t")] == [(rule, "block")], text
