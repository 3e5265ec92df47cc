"""A flow-recording addon for tests (`bottle egress run --addon`): every finished HTTP flow is
appended to the file named by BOTTLE_TEST_FLOWS, the way a recorder would keep them."""

from __future__ import annotations

import os
from typing import Any

from mitmproxy import http, io

from addons.support.flows import KEY, existing_record


class RecordFlows:
    name = "record-flows"

    def __init__(self, path: str) -> None:
        self.path = path

    def _write(self, flow: http.HTTPFlow) -> None:
        rec = existing_record(flow)
        # Live state of the addons (`bottle-egress*` keys) is not data: flow files hold plain
        # data only, as the product's recorder (addons/record.py) keeps them.
        saved: dict[str, Any] = {k: flow.metadata.pop(k) for k in list(flow.metadata)
                                 if k.startswith(KEY)}
        if rec is not None:
            flow.metadata[KEY] = rec.as_metadata()
        try:
            with open(self.path, "ab") as handle:
                io.FlowWriter(handle).add(flow)
        finally:
            flow.metadata.pop(KEY, None)
            flow.metadata.update(saved)

    def response(self, flow: http.HTTPFlow) -> None:
        self._write(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._write(flow)


addons = [RecordFlows(os.environ["BOTTLE_TEST_FLOWS"])]
