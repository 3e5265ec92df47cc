"""An addon that raises in `responseheaders` when the request asks for it (`X-Explode:
responseheaders`): the response-ownership tests load it with --addon."""

from __future__ import annotations

from typing import Any


class ExplodingHead:
    name = "exploding-head"

    def responseheaders(self, flow: Any) -> None:
        if flow.request.headers.get("x-explode") == "responseheaders":
            raise ValueError("boom at the response head")


addons = [ExplodingHead()]
