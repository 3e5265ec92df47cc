#!/usr/bin/env python3
"""Regenerates egress/scan/hostnames/bigrams.py: letter-bigram log-likelihoods of ordinary words.

The hostname scorer asks "does this run of letters read like words?" by averaging these
log-probabilities over a run (`^` marks the start and end of a run). The table is built
from a plain English word list (Debian's `wamerican`, /usr/share/dict/american-english)
plus the abbreviations hostnames are made of, with add-one smoothing. It is data, built
once and committed; nothing is fetched at run time.

    apt-get install wamerican && scripts/build-hostname-bigrams.py [WORDLIST]
"""

from __future__ import annotations

import itertools
import math
import re
import sys
from pathlib import Path

# Hostname vocabulary the dictionary lacks (counted like words).
HOST_TEXT = """
# noqa: SIM905 www api apis cdn cdns img imgs static assets media files dl download
downloads update updates mail smtp imap pop mx ns dns ftp vpn gw gateway proxy edge lb elb
alb nlb auth login sso oauth id dev prod stg staging stage beta alpha test qa uat preview
canary internal intra corp ext us eu ap east west north south central northeast southeast
northwest southwest gov cn cloud app apps web www2 mobile m wap portal admin console
dashboard status health metrics telemetry analytics tracking track trk pixel tag tags stats
log logs logging events ingest registry repo repos pkg pkgs packages npm pypi crates gems
maven docker ghcr quay gcr ecr github gitlab bitbucket githubusercontent gstatic googleapis
googleusercontent akamai akamaized akamaiedge akamaihd fastly cloudfront cloudflare
azureedge azurefd msedge amazonaws awsstatic windows microsoft office outlook live apple
icloud mzstatic storage blob bucket buckets objects object origin secure ssl tls cert certs
ocsp crl pki stream streaming video videos audio images image thumbs thumb avatar avatars
fonts font js css json xml rss feed feeds search suggest ads ad adserver adsrvr doubleclick
"""
HOST_TOKENS = HOST_TEXT.split()


def build(words: list[str]) -> dict[str, float]:
    counts: dict[str, int] = {}
    for w in words:
        s = f"^{w}^"
        for a, b in itertools.pairwise(s):
            counts[a + b] = counts.get(a + b, 0) + 1
    alpha = "^abcdefghijklmnopqrstuvwxyz"
    table: dict[str, float] = {}
    for a in alpha:
        total = sum(counts.get(a + b, 0) for b in alpha)
        for b in alpha:
            if a == b == "^":
                continue
            table[a + b] = round(math.log2((counts.get(a + b, 0) + 1) / (total + len(alpha))), 3)
    return table


def main() -> int:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/dict/american-english")
    words = {w.strip().lower() for w in source.read_text(encoding="utf-8", errors="ignore").split()}
    words = {w for w in words if re.fullmatch(r"[a-z]+", w)}
    table = build(sorted(words) + HOST_TOKENS * 5)
    out = Path(__file__).resolve().parents[1] / "egress" / "scan" / "hostnames" / "bigrams.py"
    lines = [
        '"""Letter-bigram log2-likelihoods of ordinary words (generated: '
        'scripts/build-hostname-bigrams.py)."""',
        "",
        f"# {len(words)} words from {source.name} plus hostname abbreviations; `^` = run boundary.",
        "BIGRAM_LOG2: dict[str, float] = {",
    ]
    items = sorted(table.items())
    for i in range(0, len(items), 6):
        lines.append("    " + " ".join(f'"{k}": {v},' for k, v in items[i:i + 6]))
    lines.append("}")
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out} ({len(table)} bigrams from {len(words)} words)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
