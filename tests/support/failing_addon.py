"""An addon that raises in `request`: the fail-closed test loads it with --addon."""

from __future__ import annotations

from typing import Any


class Exploding:
    name = "exploding"

    def request(self, flow: Any) -> None:
        # The message quotes request data, as a careless scanner might: it must not be logged.
        raise ValueError(f"boom while reading {flow.request.headers.get('x-secret-probe')}")


addons = [Exploding()]
