"""The placement check the injection round tests share: an attack phrasing planted at the start,
end and middle of long benign prose must be reported as its family; a benign look-alike must
pass on its own and inside the same prose. Every scanner given must agree."""

from __future__ import annotations

from collections.abc import Sequence

from egress.scan.injection import InjectionScanner
from tests.support.injection_eval import CARRIER


def check_placed(text: str, family: str | None, scanners: Sequence[InjectionScanner],
                 carrier: str = CARRIER) -> None:
    """With `family`, `text` is an attack: flagged as `family` at the start, end and middle of
    `carrier`. With None, `text` is benign: it passes alone and between two carriers."""
    placements: tuple[str, ...]
    if family is None:
        placements = (text, f"{carrier}\n{text}\n{carrier}")
    else:
        placements = (f"{text}\n{carrier}", f"{carrier}\n{text}",
                      f"{carrier[:1500]}\n{text}\n{carrier[1500:]}")
    for placed in placements:
        for scanner in scanners:
            hit = scanner.scan(placed)
            if family is None:
                assert hit is None, (text, hit)
            else:
                assert hit is not None and hit.rule.id == family, (text, hit)


def check_definition(text: str, family: str) -> None:
    """`text`, a tool definition's description, is reported as `family` at `medium`."""
    hit = InjectionScanner("medium", "tool").scan(text)
    assert hit is not None and hit.rule.id == family, (text, hit)


def check_medium_only(text: str) -> None:
    """`text` is an errand the detectors that run at `medium` and `high` only report: `low`
    lets it pass, `medium` flags it."""
    assert InjectionScanner("low", "content").scan(text) is None, text
    assert InjectionScanner("medium", "content").scan(text) is not None, text
