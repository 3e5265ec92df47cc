"""A recording upstream resolver for containers (dnslib; runs in the bottle-egress image).

`python3 dns_recorder.py ZONE IP`: answers A for ZONE and every name under it with IP,
NXDOMAIN for the rest, and prints each query as a JSON line, so a test can prove from
`docker logs` which names reached the upstream resolver and which never did.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class Recorder(BaseResolver):  # type: ignore[misc]
    def __init__(self, zone: str, ip: str) -> None:
        self.zone, self.ip = zone.lower().rstrip("."), ip

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        name = str(request.q.qname).rstrip(".").lower()
        print(json.dumps({"query": name, "type": QTYPE[request.q.qtype]}), flush=True)
        reply = request.reply()
        if name != self.zone and not name.endswith("." + self.zone):
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.A:
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(self.ip), ttl=5))
        return reply


def main() -> None:
    resolver = Recorder(sys.argv[1], sys.argv[2])
    quiet = DNSLogger(logf=lambda _: None)
    for tcp in (False, True):
        DNSServer(resolver, address="0.0.0.0", port=53, tcp=tcp, logger=quiet).start_thread()
    print(json.dumps({"listening": 53}), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
