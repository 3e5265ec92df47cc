"""The prefilter backends by name, and the in-memory memo of compiled prefilters.

Pure: compiling happens in memory. A caller that wants compiled databases from the on-disk
derived cache passes its own factory to the engine (`egress.sources.dlp_catalogue`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

from egress.scan.dlp.prefilter.ahocorasick_backend import AhoCorasickPrefilter
from egress.scan.dlp.prefilter.hyperscan_backend import HyperscanPrefilter, hyperscan
from egress.scan.dlp.prefilter.protocol import Prefilter, RuleSource

BACKENDS = ("hyperscan", "aho-corasick")

# Rule sources and a backend name (None: the default) -> their compiled prefilter.
PrefilterFactory = Callable[[Sequence[RuleSource], str | None], Prefilter]


def default_backend() -> str:
    return "hyperscan" if hyperscan is not None else "aho-corasick"


def check_backend(backend: str) -> None:
    """Raise ValueError for a backend name that is unknown or not installed here."""
    if backend == "hyperscan" and hyperscan is None:
        raise ValueError("the hyperscan backend is not installed")
    if backend not in BACKENDS:
        raise ValueError(f"unknown DLP matcher backend {backend!r}; one of {', '.join(BACKENDS)}")


@cache
def _prefilter(sources: tuple[RuleSource, ...], backend: str) -> Prefilter:
    check_backend(backend)
    if backend == "hyperscan":
        return HyperscanPrefilter.compile(sources)
    return AhoCorasickPrefilter(sources)


def make_prefilter(sources: Sequence[RuleSource], backend: str | None = None) -> Prefilter:
    """Compiled once per rule set and backend, then shared by every policy that uses it."""
    return _prefilter(tuple(sources), backend or default_backend())
