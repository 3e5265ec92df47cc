"""The recording resolver of `tests/support/dns.py`, run inside a container of the test
network (the bottle-egress image has dnslib): `python3 -m tests.support.dns_recorder ZONE IP`.

It answers A for ZONE and every name under it with IP, NXDOMAIN for the rest, and prints
each query as a JSON line, so a test proves from `docker logs` which names reached the
upstream resolver and which never did.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from dnslib import DNSRecord
from dnslib.server import DNSLogger, DNSServer

from tests.support.dns import RecordingResolver


class PrintingResolver(RecordingResolver):
    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        print(json.dumps({"query": str(request.q.qname).rstrip(".").lower()}), flush=True)
        return super().resolve(request, handler)


def main() -> None:
    resolver = PrintingResolver({sys.argv[1]: sys.argv[2]})
    quiet = DNSLogger(logf=lambda _: None)
    for tcp in (False, True):
        DNSServer(resolver, address="0.0.0.0", port=53, tcp=tcp, logger=quiet).start_thread()
    print(json.dumps({"listening": 53}), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
