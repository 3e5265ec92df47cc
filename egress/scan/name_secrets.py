"""Secrets in a DNS query name: the DLP rules, known secrets and the bottle's credential
placeholders, in every shape a name can carry them. Pure: no sockets, no mitmproxy.

A name is not ordinary text, so it is scanned as the texts it stands for:
- DNS matching ignores case and whoever reads the zone can restore it, so a lower-case
  `akia...` label is the same AWS key id: each text is scanned by the DLP rules as sent,
  upper- and lower-cased (rules whose alphabet has one case find it in one of them);
- a secret may be split over consecutive labels: runs of up to `SPLIT_LABELS` labels of
  the name's data part (the labels its zone's owner chooses) are scanned glued together;
- an encoded secret (hex, base32, base64 fit in a label) is unwrapped by the DLP engine's
  decode stack (`egress.scan.decode`), and placeholders are looked for one decoding
  layer down as well.

All texts go to the engine in one `scan_parts` call (one prefilter pass). Results are
memoised per name, policy, known-secret set and credential table: resolvers ask for the same
name again and again (A and AAAA, retries, short TTLs).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from egress.findings import Finding
from egress.scan.decode import Budget, DecodeConfig, candidates
from egress.scan.dlp.engine import DLPEngine
from egress.scan.dlp.results import ScanContext

if TYPE_CHECKING:
    from egress.redact import KnownSecrets
    from egress.sources.credentials import CredentialRegistry

SPLIT_LABELS = 4         # a secret split over this many consecutive labels is still found
PLACEHOLDER_DECODE = 64 * 1024  # decoded characters a placeholder search may produce
WHERE = "dns.qname"
MEMO = 4096              # names remembered per scope


@dataclass(frozen=True, slots=True)
class NameSecrets:
    """What was found in one name. `sensitive`: values to scrub from every artefact."""

    findings: tuple[Finding, ...] = ()
    sensitive: tuple[str, ...] = ()


NOTHING = NameSecrets()


def name_texts(name: str, data: str) -> list[str]:
    """The texts a name stands for, as sent: the name itself, and runs of 2..SPLIT_LABELS
    consecutive labels of its data part `data` (the labels its zone's owner chooses)
    glued together. No duplicates, in a stable order."""
    texts = [name.rstrip(".")]
    labels = data.split(".") if data else []
    for i in range(len(labels)):
        for j in range(i + 2, min(i + SPLIT_LABELS, len(labels)) + 1):
            texts.append("".join(labels[i:j]))
    return list(dict.fromkeys(texts))


def _placeholder(texts: list[str], placeholder_in: Callable[[str], str | None],
                 decode: DecodeConfig) -> str | None:
    # Placeholder detection ignores case, and so do the hex and base32 decoders: the texts
    # as sent are enough. A placeholder has no newline, so joining creates no false match.
    joined = "\n".join(texts)
    credential = placeholder_in(joined)
    if credential is not None or not decode.any:
        return credential
    for decoded in candidates(joined, decode, Budget(PLACEHOLDER_DECODE)):
        credential = placeholder_in(decoded.text)
        if credential is not None:
            return credential
    return None


def scan_name(name: str, data: str, engine: DLPEngine | None, ctx: ScanContext,
              placeholder_in: Callable[[str], str | None] | None) -> NameSecrets:
    """Findings about secrets in `name` (`data`: its data part, see `name_texts`);
    `engine` None (or disabled) skips the DLP rules, `placeholder_in` None the placeholders."""
    texts = name_texts(name, data)
    findings: list[Finding] = []
    sensitive: list[str] = []
    if placeholder_in is not None:
        decode = engine.decode if engine is not None else DecodeConfig()
        credential = _placeholder(texts, placeholder_in, decode)
        if credential is not None:
            findings.append(Finding(
                "credentials", "placeholder-exfiltration", "block", "dns",
                f"the placeholder of credential {credential!r} was sent in a DNS query name "
                "(possible exfiltration attempt)"))
    if engine is not None and engine.enabled:
        cased = dict.fromkeys(v for t in texts for v in (t, t.upper(), t.lower()))
        for match in engine.scan_parts([(WHERE, t) for t in cased], ctx, join=False):
            finding = match.finding
            if finding.action == "redact":
                # a name cannot be rewritten: what a rule would redact elsewhere is blocked
                finding = replace(finding, action="block",
                                  reason=f"{finding.reason}; a DNS name cannot be redacted, blocked")
            findings.append(finding)
            sensitive.extend(s for s in match.sensitive if s)
    if not findings:
        return NOTHING
    return NameSecrets(tuple(findings), tuple(dict.fromkeys(sensitive)))


class NameSecretScanner:
    """`scan_name` with a memo per scope: the same engine (compiled policy), known-secret
    version, credential table and benign set. Thread-safe; a new scope starts a new memo."""

    def __init__(self, size: int = MEMO) -> None:
        self._lock = threading.Lock()
        self._memo: OrderedDict[str, NameSecrets] = OrderedDict()
        self._scope: tuple[object, int, object, frozenset[str]] | None = None
        self.size = size

    def _current(self, scope: tuple[object, int, object, frozenset[str]]) -> bool:
        old = self._scope
        return (old is not None and old[0] is scope[0] and old[1] == scope[1]
                and old[2] is scope[2] and old[3] == scope[3])

    def scan(self, name: str, data: str, engine: DLPEngine | None, ctx: ScanContext,
             placeholder_in: Callable[[str], str | None] | None,
             credentials: object = None) -> NameSecrets:
        """`credentials`: the credential table `placeholder_in` reads (a new table object
        whenever placeholders change)."""
        scope = (engine, ctx.known.version if ctx.known is not None else 0, credentials,
                 ctx.benign)
        with self._lock:
            if not self._current(scope):
                self._memo.clear()
                self._scope = scope
            found = self._memo.get(name)
            if found is not None:
                self._memo.move_to_end(name)
                return found
        found = scan_name(name, data, engine, ctx, placeholder_in)
        with self._lock:
            if self._current(scope):
                self._memo[name] = found
                if len(self._memo) > self.size:
                    self._memo.popitem(last=False)
        return found

    def finder(self, engine: DLPEngine, known: KnownSecrets | None,
               credentials: CredentialRegistry) -> Callable[[str, str], NameSecrets]:
        """`scan` bound to one query's state: the policy's engine, the bottle's known secrets
        and its credentials (placeholders are looked for, and not mistaken for tokens)."""
        table = credentials.table

        def placeholder_in(text: str) -> str | None:
            hit = table.find_in_name(text)
            return hit.name if hit is not None else None

        def find(name: str, data: str) -> NameSecrets:
            ctx = ScanContext(name, None, known, table.placeholder_values)
            return self.scan(name, data, engine, ctx, placeholder_in if table else None, table)
        return find
