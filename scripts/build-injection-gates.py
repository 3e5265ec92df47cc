"""Write `egress/data/injection_gates.json.gz`: the literal gates and start strings of every
injection pattern, as `egress.scan.injection.vocab` reads them off the parsed pattern.

    .venv/bin/python scripts/build-injection-gates.py            # rewrite the file
    .venv/bin/python scripts/build-injection-gates.py --check    # exit 1 if it differs

The scanner reads the file on first use instead of parsing each pattern (about 0.3 s of the
first scan in a process); a pattern missing from the file, or a file made by another Python
minor version, is parsed as before, so the file changes speed only, never a result. Rerun after
adding or changing a pattern (`tests/test_injection_gates_stored.py` fails until then).
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import pkgutil
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from egress.scan import injection  # noqa: E402
from egress.scan.injection import rule_table, vocab  # noqa: E402


def _patterns_in(value: Any, depth: int = 0) -> list[re.Pattern[str]]:
    """Patterns held by a module global, directly or in a tuple, list or dict of them."""
    if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
        return [value]
    if depth < 2 and isinstance(value, (tuple, list)):
        return [p for v in value for p in _patterns_in(v, depth + 1)]
    if depth < 2 and isinstance(value, dict):
        return [p for v in value.values() for p in _patterns_in(v, depth + 1)]
    return []


def patterns() -> list[re.Pattern[str]]:
    """Every rule pattern and every pattern a module of `egress.scan.injection` holds."""
    found = [r.pattern for r in rule_table()]
    for info in pkgutil.iter_modules(injection.__path__):
        module = importlib.import_module(f"{injection.__name__}.{info.name}")
        for value in vars(module).values():
            found += _patterns_in(value)
    unique = {vocab.pattern_digest(p): p for p in found}
    return [unique[k] for k in sorted(unique)]


def build() -> bytes:
    rows = []
    for p in patterns():
        starts = vocab.live_starts(p)
        rows.append([vocab.pattern_digest(p), list(vocab.live_gate_keys(p)),
                     None if starts is None else [list(starts[0]), starts[1]]])
    data = {"python": "{}.{}".format(*sys.version_info[:2]), "patterns": rows}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
    # No file name and no time stamp in the header: the same patterns give the same bytes.
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the file is not what it would be")
    args = ap.parse_args()
    data = build()
    if args.check:
        current = vocab.GATES_FILE.read_bytes() if vocab.GATES_FILE.exists() else b""
        if current != data:
            print(f"{vocab.GATES_FILE} is stale: run scripts/build-injection-gates.py", file=sys.stderr)
            sys.exit(1)
        return
    vocab.GATES_FILE.write_bytes(data)
    print(f"{vocab.GATES_FILE}: {len(patterns())} patterns, {len(data)} bytes")


if __name__ == "__main__":
    main()
