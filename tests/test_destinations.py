"""The pure parts of destination checking: IP spellings, non-public ranges, the proxy host's
own networks, ports, canonical paths, the policy keys, and the pinned resolver. (The live
behaviour is in test_destinations_e2e.py, test_authority_e2e.py and test_paths_e2e.py.)"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import textwrap
from pathlib import Path
from typing import Any

import pytest

from addons.destinations import judge_addresses
from egress.addresses import AddressPolicy, canonical_ip, non_public_kind, parse_network
from egress.hostmatch import MalformedPath, normalize_host, path_forms
from egress.policy.compiled import compile_policy
from egress.policy.loader import load_policy, parse_policy
from egress.policy.problems import PolicyError
from egress.resolve import PinnedResolver
from egress.sources.localnet import connected_ipv4, local_ipv4, local_ipv6, read_local_networks


def policy(text: str) -> Any:
    return compile_policy(parse_policy(textwrap.dedent(text)), "test")


@pytest.mark.parametrize(("spelling", "canonical"), [
    ("127.0.0.1", "127.0.0.1"), ("127.1", "127.0.0.1"), ("127.0.1", "127.0.0.1"),
    ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("0X7F.0.0.1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"), ("127.000.000.001", "127.0.0.1"), ("[::ffff:127.0.0.1]", "127.0.0.1"),
    ("::ffff:7f00:1", "127.0.0.1"), ("0", "0.0.0.0"), ("0.0.0.0", "0.0.0.0"), ("10.0.0.1.", "10.0.0.1"),
    ("[0:0:0:0:0:0:0:1]", "::1"), ("FE80::1", "fe80::1"), ("169.254.169.254", "169.254.169.254"),
    ("0251.0376.0251.0376", "169.254.169.254"),
])
def test_every_spelling_of_an_address_has_one_canonical_form(spelling: str, canonical: str) -> None:
    assert canonical_ip(spelling) == canonical
    assert normalize_host(spelling) == canonical


@pytest.mark.parametrize("name", ["example.com", "1.2.3.4.nip.io", "08.0.0.1", "256.1.1.1.1",
                                  "1.2.3.256", "0x1g", "4294967296", "a1", "[::1", ""])
def test_names_are_not_addresses(name: str) -> None:
    assert canonical_ip(name) is None


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("172.31.0.1", "private"),
    ("192.168.1.1", "private"), ("100.64.0.1", "shared (CGNAT)"), ("169.254.169.254", "link-local"),
    ("0.0.0.0", "unspecified"), ("224.0.0.1", "multicast"), ("255.255.255.255", "reserved"),
    ("::1", "loopback"), ("fd00::1", "unique local (private)"), ("fe80::1", "link-local"),
    ("64:ff9b::a9fe:a9fe", "link-local (embedded in 64:ff9b::a9fe:a9fe)"),
    ("2002:7f00:1::", "loopback (embedded in 2002:7f00:1::)"),
])
def test_non_public_ranges(address: str, kind: str) -> None:
    assert non_public_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", ["1.1.1.1", "140.82.112.3", "2606:4700::1111"])
def test_public_addresses(address: str) -> None:
    assert non_public_kind(ipaddress.ip_address(address)) is None
    assert AddressPolicy().refusal(ipaddress.ip_address(address)) is None


def test_allow_private_and_the_hosts_own_networks() -> None:
    local = [ipaddress.ip_network("45.33.32.0/24"), ipaddress.ip_network("45.33.40.7/32")]
    addresses = AddressPolicy([parse_network("10.0.0.0/8"), parse_network("127.1")], local)
    assert addresses.refusal(ipaddress.ip_address("10.9.9.9")) is None
    assert addresses.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert addresses.refusal(ipaddress.ip_address("127.0.0.2")) is not None
    refused = addresses.refusal(ipaddress.ip_address("45.33.32.9"))
    assert refused is not None and "own network 45.33.32.0/24" in refused.kind
    with pytest.raises(ValueError, match="not an IP address or CIDR"):
        parse_network("example.com")


ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""
FIB_TRIE = """Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 172.17.0.1
        /32 host LOCAL
     |-- 172.17.255.255
        /32 link BROADCAST
"""
IF_INET6 = "fd000000000000000000000000000002 02 40 00 80     eth0\n"


def test_local_networks_are_read_from_proc(tmp_path: Path) -> None:
    assert [str(n) for n in connected_ipv4(ROUTE)] == ["172.17.0.0/16", "192.0.2.0/24"]
    assert [str(n) for n in local_ipv4(FIB_TRIE)] == ["172.17.0.1/32"]
    assert [str(n) for n in local_ipv6(IF_INET6)] == ["fd00::2/128", "fd00::/64"]
    (tmp_path / "route").write_text(ROUTE)
    (tmp_path / "fib_trie").write_text(FIB_TRIE)
    assert len(read_local_networks(tmp_path)) == 3  # if_inet6 missing: read as empty


def test_ports_default_to_web_ports_for_allow_and_every_port_for_deny() -> None:
    hosts = policy("""
        hosts:
          allow:
            - hosts: [a.test]
            - hosts: [b.test]
              ports: [8443, "9000-9001", 443]
          deny:
            - hosts: [a.test]
              paths: [/admin]
    """).hosts
    assert hosts.check_host("a.test", 443) is None and hosts.check_host("a.test", 80) is None
    refused = hosts.check_host("a.test", 25)
    assert refused is not None and refused.rule == "port-not-allowed"
    assert hosts.check_host("b.test", 9001) is None and hosts.check_host("b.test", 80) is not None
    assert hosts.check_request("a.test", "GET", "/ADMIN", 8080)[0].rule == "host-denied"
    assert hosts.check_request("a.test", "GET", "/x", 25)[0].rule == "port-not-allowed"
    assert hosts.check_host("c.test", 443).rule == "host-not-allowed"


def test_path_rules_on_canonical_forms() -> None:
    hosts = policy("""
        hosts:
          allow:
            - hosts: [a.test]
              paths: [/public]
            - hosts: [c.test]
              paths: [/Docs]
              ignore_case: true
          deny:
            - hosts: [a.test]
              paths: [/public/secret]
    """).hosts
    assert hosts.check_request("a.test", "GET", "/public/x") == []
    for path in ("/public/..%2fprivate", "/public\\..\\private", "/public%2f..%2f..%2fetc"):
        assert hosts.check_request("a.test", "GET", path)[0].rule == "request-not-allowed", path
    for path in ("/public/SECRET", "/public/secret;x", "/public/%73ecret", "/public/x/../secret"):
        assert hosts.check_request("a.test", "GET", path)[0].rule == "host-denied", path
    assert hosts.check_request("a.test", "GET", "/public/%00")[0].rule == "malformed-path"
    assert hosts.check_request("c.test", "GET", "/docs/x") == []
    assert hosts.explain("a.test", "GET", "/public/secret") == ("block", "deny[0]")


@pytest.mark.parametrize(("raw", "forms"), [
    ("/a/b", ("/a/b",)), ("/a/./b/../c", ("/a/c",)), ("/a%2fb", ("/a/b",)),
    ("/%2561", ("/%61", "/a")), ("/a;p=1/b", ("/a/b", "/a;p=1/b")), ("/x\\y", ("/x/y", "/x\\y")),
    ("/a#b", ("/a", "/a#b")), ("/a?b=%00", ("/a",)),
])
def test_path_forms(raw: str, forms: tuple[str, ...]) -> None:
    assert path_forms(raw) == forms


@pytest.mark.parametrize("raw", ["/a%00", "/a\x01", "/a%2509", "/%25252525252541"])
def test_malformed_paths(raw: str) -> None:
    with pytest.raises(MalformedPath):
        path_forms(raw)


def test_policy_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nhosts:\n  allow:\n    - hosts: [a.test]\n      ports: [70000]\n")
    with pytest.raises(PolicyError, match=r"p\.yaml:5.*not a port"):
        load_policy(str(path))
    path.write_text("version: 1\nhosts:\n  allow_private: [nonsense]\n")
    with pytest.raises(PolicyError, match=r"p\.yaml:3.*not an IP address or CIDR"):
        load_policy(str(path))
    path.write_text("version: 1\nhosts:\n  allow:\n    - hosts: [a.test, 10.0.0.5]\n")
    with pytest.raises(PolicyError, match=r"p\.yaml:4.*10\.0\.0\.5 is not a public address.*allow_private"):
        load_policy(str(path))
    path.write_text("version: 1\nhosts:\n  allow:\n    - hosts: [a.test:8443]\n")
    with pytest.raises(PolicyError, match="carries no port"):
        load_policy(str(path))
    path.write_text("version: 1\nhosts:\n  allow:\n    - hosts: [10.0.0.5]\n"
                    "  allow_private: [10.0.0.0/24]\n")
    load_policy(str(path))


def test_a_name_with_mixed_answers_is_dialled_on_the_allowed_ones() -> None:
    infos = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80)),
             (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", 80, 0, 0))]
    allowed, refused = judge_addresses("localhost", infos, AddressPolicy([parse_network("127.0.0.1")]),
                                       "connect")
    assert allowed == infos[:1] and refused is None
    allowed, refused = judge_addresses("localhost", infos, AddressPolicy(), "connect")
    assert allowed == [] and refused is not None and refused.rule == "private-address"
    assert "localhost (127.0.0.1)" in refused.reason


def test_the_loop_resolves_a_pinned_name_to_the_checked_answer() -> None:
    async def run() -> list[Any]:
        loop = asyncio.get_running_loop()
        calls: list[str] = []

        async def system(host: str, port: int, **kw: Any) -> list[Any]:
            calls.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.9.9.9", port))]

        loop.getaddrinfo = system  # type: ignore[method-assign,assignment]
        resolver = PinnedResolver()
        resolver.install(loop)
        checked = await resolver.resolve("name.test", 443)
        resolver.pin("name.test", 443, [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("1.1.1.1", 443))])
        dialled = await loop.getaddrinfo("name.test", 443, type=socket.SOCK_STREAM)
        other = await loop.getaddrinfo("other.test", 443)
        assert calls == ["name.test", "other.test"]  # the pinned name was not resolved again
        return [checked, dialled, other]

    checked, dialled, other = asyncio.run(run())
    assert checked[0][4][0] == "10.9.9.9"
    assert dialled[0][4] == ("1.1.1.1", 443)
    assert other[0][4][0] == "10.9.9.9"


def test_concurrent_checks_of_one_new_name_share_one_lookup() -> None:
    """Twenty requests reaching a new name at once: one lookup, whose answer all of them get,
    even when the first requester is cancelled while it waits."""
    async def run() -> tuple[list[str], list[Any]]:
        loop = asyncio.get_running_loop()
        calls: list[str] = []
        gate = asyncio.Event()

        async def system(host: str, port: int, **kw: Any) -> list[Any]:
            calls.append(host)
            await gate.wait()
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.9.9.9", port))]

        loop.getaddrinfo = system  # type: ignore[method-assign,assignment]
        resolver = PinnedResolver()
        waiters = [asyncio.ensure_future(resolver.resolve("new.test", 443)) for _ in range(20)]
        await asyncio.sleep(0)
        waiters[0].cancel()
        gate.set()
        answers = await asyncio.gather(*waiters[1:])
        assert waiters[0].cancelled()
        again = await resolver.resolve("new.test", 443)  # within RESOLVE_TTL: no lookup
        return calls, [*answers, again]

    calls, answers = asyncio.run(run())
    assert calls == ["new.test"]
    assert len(answers) == 20 and all(a[0][4] == ("10.9.9.9", 443) for a in answers)


def test_a_temporary_resolver_failure_is_asked_again_a_permanent_one_is_not() -> None:
    async def run(errors: list[int]) -> tuple[int, list[Any] | OSError]:
        loop = asyncio.get_running_loop()
        calls = 0

        async def system(host: str, port: int, **kw: Any) -> list[Any]:
            nonlocal calls
            calls += 1
            if errors:
                code = errors.pop(0)
                raise socket.gaierror(code, "failed")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.9.9.9", port))]

        loop.getaddrinfo = system  # type: ignore[method-assign,assignment]
        got: list[Any] | OSError
        try:
            got = await PinnedResolver().resolve("flaky.test", 443)
        except OSError as e:
            got = e
        return calls, got

    calls, got = asyncio.run(run([socket.EAI_AGAIN, socket.EAI_AGAIN]))
    assert calls == 3 and not isinstance(got, OSError) and got[0][4][0] == "10.9.9.9"
    calls, got = asyncio.run(run([socket.EAI_AGAIN] * 3))
    assert calls == 3 and isinstance(got, socket.gaierror) and got.errno == socket.EAI_AGAIN
    calls, got = asyncio.run(run([socket.EAI_NONAME]))
    assert calls == 1 and isinstance(got, socket.gaierror) and got.errno == socket.EAI_NONAME
