"""Resolved-address guard: the proxy never dials a non-public address the policy does not list.

A policy allows names; what a name resolves to is up to whoever runs its DNS. Before a
request leaves (`requestheaders`) its host is resolved and every address judged: loopback,
private, link-local (the cloud metadata service), CGNAT, multicast, reserved, and the proxy
host's own addresses and networks are refused (`hosts/private-address`, naming the address)
unless `hosts.allow_private` lists them — in audit mode too. Every new connection
(`server_connect`) is judged again, and the connection is pinned to the addresses judged
(`egress.resolve`), so a name cannot answer one address to the check and another to the dial.

With `--upstream` the proxy dials only the upstream proxy and never resolves destination
names: there only IP-literal destinations can be judged here (in `addons.hosts`); what names
resolve to is the upstream's to check (pipelock refuses private answers by default).
"""

from __future__ import annotations

import asyncio
import socket

from mitmproxy import http
from mitmproxy.proxy.server_hooks import ServerConnectionHookData

from addons.support.flows import fail, record_of
from egress.addresses import AddressPolicy, parse_ip
from egress.audit import utc_now
from egress.findings import Finding
from egress.resolve import AddrInfo, PinnedResolver
from egress.runtime import Runtime
from egress.scan.hosts import address_finding


def judge_addresses(name: str, infos: list[AddrInfo], addresses: AddressPolicy,
                    where: str) -> tuple[list[AddrInfo], Finding | None]:
    """The addresses of `name` the proxy may dial, and (when there is none) why not. A name
    with both kinds of answers (`localhost`: 127.0.0.1 and ::1) is dialled on the allowed
    ones only."""
    allowed: list[AddrInfo] = []
    refused: Finding | None = None
    for info in infos:
        ip = parse_ip(str(info[4][0]))
        finding = (address_finding(name, ip, addresses, where) if ip is not None else
                   Finding("hosts", "private-address", "block", where,
                           f"{name} resolved to something that is not an IP address"))
        if finding is None:
            allowed.append(info)
        elif refused is None:
            refused = finding
    return allowed, (refused if not allowed else None)


class Destinations:
    name = "destinations"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.resolver = PinnedResolver()
        # (host, port) -> the answer and address policy last judged, and the verdict: every
        # request on a keep-alive connection asks again, with the same (cached) answer.
        self._judged: dict[tuple[str, int], tuple[object, AddressPolicy, Finding | None]] = {}

    def _skip(self, host: str) -> bool:
        # Not live (replay), chained through an upstream proxy (it resolves names), or an IP
        # literal (judged by `addons.hosts` without resolving).
        return not self.runtime.live or self.runtime.upstream is not None or parse_ip(host) is not None

    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return
        host, port = flow.request.host, flow.request.port
        if self._skip(host):
            return
        try:
            infos = await self.resolver.resolve(host, port)
        except OSError:
            return  # does not resolve: mitmproxy's connection attempt reports it
        rec = record_of(flow, self.runtime)
        addresses = self.runtime.addresses(rec.policy)
        key = (host, port)
        judged = self._judged.get(key)
        if judged is not None and judged[0] is infos and judged[1] is addresses:
            finding = judged[2]
        else:
            _, finding = judge_addresses(host, infos, addresses, "request")
            if len(self._judged) > 4096:
                self._judged.clear()
            self._judged[key] = (infos, addresses, finding)
        if finding is not None and rec.blocked is None:
            fail(flow, self.runtime, finding)

    async def server_connect(self, data: ServerConnectionHookData) -> None:
        address = data.server.address
        if address is None or address == self.runtime.upstream or data.server.error:
            return
        host, port = str(address[0]), int(address[1])
        policy = self.runtime.policy
        ip = parse_ip(host)
        if ip is not None:
            # Judged by `addons.hosts`; pinned so an odd spelling (`0x7f000001`) is dialled as
            # the address it was judged as, not as whatever the system resolver makes of it.
            family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            sockaddr = (ip.compressed, port, 0, 0) if ip.version == 6 else (ip.compressed, port)
            self.resolver.install(asyncio.get_running_loop())
            self.resolver.pin(host, port, [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                                            sockaddr)])
            return
        if not self.runtime.live or self.runtime.upstream is not None:
            return
        try:
            infos = await self.resolver.resolve(host, port)
        except OSError as e:
            # Fail closed: never leave the name to be resolved again, unchecked, by the dial.
            data.server.error = f"cannot resolve {host}: {e.strerror or type(e).__name__}"
            return
        allowed, finding = judge_addresses(host, infos, self.runtime.addresses(policy), "connect")
        if not infos:
            data.server.error = f"cannot resolve {host}: no address"
            return
        if finding is not None:
            data.server.error = f"blocked by egress policy: {finding.reason}"
            self.runtime.audit.write({
                "time": utc_now(), "event": "server-connect", "bottle": self.runtime.bottle_id,
                "client": _peer(data), "host": host, "port": port, "verdict": "block",
                "findings": [finding.as_audit()], "policy": policy.digest,
            })
            return
        self.resolver.pin(host, port, allowed)


def _peer(data: ServerConnectionHookData) -> str | None:
    peer = data.client.peername
    return f"{peer[0]}:{peer[1]}" if peer else None
