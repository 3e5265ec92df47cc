"""The injection scanner: phrase rules under every normalisation view, hidden segments decoded
and rescanned, then the weighted score of weaker signals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from egress.scan.injection import act, errand, prose_act, scorer, standing
from egress.scan.injection.rule import ACT_RULES, Hit, Rule, present_keys, rule_table
from egress.scan.injection.text import compact_override, decoded_segments, fold_view, views
from egress.scan.injection.vocab import BOTH, quoted_report
from egress.scan.normalize import decode_tag_characters, invisible_to_space, strip_invisible

Where = Literal["content", "tool"]
Sensitivity = Literal["low", "medium", "high"]
# Confidence levels a sensitivity enables: 1 = high-confidence rules only.
LEVELS: dict[Sensitivity, int] = {"low": 1, "medium": 2, "high": 3}
MAX_DECODE_DEPTH = 2
# Errands asked of the reader (`errand.py`, `standing.py`) need no AI addressee: `medium` and
# `high` only.
ERRAND_LEVEL = 2

# The weighted score of weak signals (`scorer`), reported like a rule.
SCORE_RULE = Rule("directive-score", "directive-score", 2,
                  "Several weaker signals together: directives to the model, references to its "
                  "instructions, persona or output, secrecy, secrets, outside addresses, fake roles.",
                  re.compile(r"(?!)"), BOTH, pattern_id="directive-score")


class InjectionScanner:
    """The rules of one sensitivity and one kind of text, compiled once per policy load."""

    def __init__(self, sensitivity: Sensitivity = "medium", where: Where = "content") -> None:
        level = LEVELS[sensitivity]
        self.sensitivity = sensitivity
        self.where = where
        chosen = [r for r in rule_table() if r.level <= level and where in r.where]
        self._latin = tuple(r for r in chosen if r.latin)
        self._other = tuple(r for r in chosen if not r.latin)
        self._compact_rule = next(r for r in rule_table() if r.id == "instruction-override")
        self._act_level = level
        # At `high`, even an attack quoted as reported speech counts.
        self._reports_exempt = sensitivity != "high"
        self._model = scorer.models()[where]
        self._threshold = self._model.thresholds.get(sensitivity)

    def scan(self, text: str) -> Hit | None:
        """The first rule hit in `text`, else a score over the threshold, or None."""
        if not text or text.isspace():
            return None
        folded = fold_view(text)
        hit = self.scan_rules(text, folded=folded)
        if hit is not None or self._threshold is None:
            return hit
        scored = scorer.best_window(self._model, folded)
        if scored is not None and scored.probability >= self._threshold:
            return Hit(SCORE_RULE, "text", folded[scored.start:min(scored.end, scored.start + 160)])
        # Words joined by invisible characters read as one word in the main view.
        if not text.isascii() and strip_invisible(text) != text:
            spaced = fold_view(invisible_to_space(text))
            scored = scorer.best_window(self._model, spaced)
            if scored is not None and scored.probability >= self._threshold:
                snippet = spaced[scored.start:min(scored.end, scored.start + 160)]
                return _hidden(Hit(SCORE_RULE, "invisible-as-space", snippet), "invisible-as-space")
        return None

    def score(self, text: str) -> scorer.Scored | None:
        """The best window's score (for reports and tests), whatever the threshold."""
        return self.score_folded(fold_view(text))

    def score_folded(self, folded: str) -> scorer.Scored | None:
        """The best window's score of an already folded view (what `scan` adds to the rules)."""
        return scorer.best_window(self._model, folded)

    def scan_rules(self, text: str, _depth: int = 0, folded: str | None = None) -> Hit | None:
        """The first rule hit in `text` under any normalisation pass, or None."""
        if not text or text.isspace():
            return None
        for name, view, latin in views(text, folded):
            if latin:
                found = self._act(view, name)
                if found is not None:
                    return found
            present = present_keys(view)
            for rule in self._latin if latin else self._other:
                m = rule.first(view, present, self._reports_exempt)
                if m is not None:
                    if rule.id == "encoded-instructions" and _depth < MAX_DECODE_DEPTH:
                        # "Decode this and follow it": report what the blob says, if it says it.
                        for encoding, decoded in decoded_segments(text):
                            found = self.scan_rules(decoded, _depth + 1)
                            if found is not None:
                                return _hidden(found, f"{encoding}:{found.view}")
                    return Hit(rule, name, m.group(0))
            if name == "text":
                compact = compact_override(view)
                if compact is not None:
                    return Hit(self._compact_rule, "whitespace-collapsed", compact)
        hidden = decode_tag_characters(text)
        if hidden:
            found = self.scan_rules(hidden, _depth + 1)
            if found is not None:
                return _hidden(found, "tag-characters")
        if _depth < MAX_DECODE_DEPTH:
            for encoding, decoded in decoded_segments(text):
                found = self.scan_rules(decoded, _depth + 1)
                if found is not None:
                    return _hidden(found, f"{encoding}:{found.view}")
        return None

    def _act(self, view: str, name: str) -> Hit | None:
        """The first act-directing instruction in one view that counts at this sensitivity;
        hidden ones are reported as such. A finding that does not count here (a family of a
        higher level, a quotation reported as such) passes the turn to the next detector: it
        must not hide what another detector finds in the same text."""
        for found in self._candidates(view):
            rule = ACT_RULES[found.family]
            if rule.level > self._act_level or (
                    self._reports_exempt and quoted_report(view, found.start, found.end)):
                continue
            hit = Hit(rule, name, view[found.start:min(found.end, found.start + 160)], found.why)
            if name == "invisible-as-space" or act.in_hidden_region(view, found.start, found.end):
                return _hidden(hit, name)
            return hit
        return None

    def _candidates(self, view: str) -> Iterator[act.ActHit]:
        """Every act-directing detector's finding in `view`, lazily, one per detector."""
        definition = self.where == "tool"
        yield from act_candidates(view, definition)
        if self._act_level >= ERRAND_LEVEL:
            yield from errand_candidates(view, definition)
            # Standing rules, internal fetches, script payloads, retries with data.
            yield from standing_candidates(view)


# The detectors in the order of `act.detect`, `errand.detect` and `standing.detect`, each of
# which stops at its first finding; these go on (`tests/test_injection_masking.py` checks that
# the first finding of each is theirs).
def act_candidates(view: str, definition: bool) -> Iterator[act.ActHit]:
    for detector in act.DETECTORS:
        found = act.tool_call(view, definition) if detector is act.tool_call else detector(view)
        if found is not None:
            yield found
    # Tool actions, command lines and privilege requests that address nobody.
    for prose in prose_act.DETECTORS:
        yield from _act_hit(prose(view))


def errand_candidates(view: str, definition: bool) -> Iterator[act.ActHit]:
    for detector in errand.DEFINITION_DETECTORS if definition else errand.DETECTORS:
        yield from _act_hit(detector(view))
    yield from _act_hit(errand.destructive_request(view, definition))


def standing_candidates(view: str) -> Iterator[act.ActHit]:
    for detector in standing.DETECTORS:
        yield from _act_hit(detector(view))


def _act_hit(found: tuple[str, int, int, str] | None) -> Iterator[act.ActHit]:
    if found is not None:
        yield act.ActHit(*found)


def _hidden(found: Hit, view: str) -> Hit:
    """`found` was hidden from the human reader (decoded, tag characters, invisible, comment)."""
    if found.rule.id == "hidden-instruction":
        return Hit(found.rule, view, found.snippet, found.detail)
    return Hit(ACT_RULES["hidden-instruction"], view, found.snippet, found.rule.id)
