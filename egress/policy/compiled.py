"""A validated policy compiled into the matchers the hot path uses, built once per load."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from egress.envvars import CLIENT_VARS
from egress.hostmatch import path_has_prefix
from egress.policy.model import Credential, KnownSecretSource, Policy
from egress.redact import MIN_SECRET_LEN
from egress.scan.hosts import HostPolicy

if TYPE_CHECKING:
    from egress.scan.dlp.engine import DLPEngine
    from egress.scan.dns import DnsPolicy
    from egress.scan.hostnames import HostnamePolicy
    from egress.scan.mcp.policy import McpPolicy

# A semantic check sees a schema-valid policy and returns (field location, message) pairs;
# the loader turns them into file:line problems. Later sections append their own.
SemanticCheck = Callable[[Policy], list[tuple[tuple[int | str, ...], str]]]


def _check_name_constraints(policy: Policy) -> list[tuple[tuple[int | str, ...], str]]:
    if not policy.ca.name_constraints:
        return []
    out: list[tuple[tuple[int | str, ...], str]] = []
    for i, rule in enumerate(policy.hosts.allow):
        if "*" in rule.hosts:
            out.append((("hosts", "allow", i, "hosts"),
                        "`*` cannot be combined with ca.name_constraints: the CA would have "
                        "to vouch for every name; list hosts explicitly or turn constraints off"))
    return out


def _check_passthrough(policy: Policy) -> list[tuple[tuple[int | str, ...], str]]:
    from egress.scan.hosts import HostPolicy

    host_wide = HostPolicy(policy.hosts)
    out: list[tuple[tuple[int | str, ...], str]] = []
    for i, host in enumerate(policy.hosts.passthrough):
        probe = host[2:] if host.startswith("*.") else host
        probe = "x." + probe if host.startswith("*.") else probe
        if host != "*" and not host_wide.is_passthrough(probe):
            out.append((("hosts", "passthrough", i),
                        f"passthrough host {host!r} is not allowed by any host-wide allow rule "
                        "(one without methods/paths); its traffic cannot be inspected, so only a "
                        "host-wide allow can admit it"))
        if host == "*":
            out.append((("hosts", "passthrough", i), "passthrough cannot be '*'"))
    return out


def _check_private_literals(policy: Policy) -> list[tuple[tuple[int | str, ...], str]]:
    """An allow rule naming a non-public address that `allow_private` does not cover could
    never be reached: say so when the policy loads rather than refuse requests later."""
    from egress.addresses import AddressPolicy, parse_ip, parse_network

    addresses = AddressPolicy([parse_network(n) for n in policy.hosts.allow_private])
    out: list[tuple[tuple[int | str, ...], str]] = []
    for i, rule in enumerate(policy.hosts.allow):
        for j, host in enumerate(rule.hosts):
            ip = parse_ip(host)
            refusal = addresses.refusal(ip) if ip is not None else None
            if refusal is not None:
                out.append((("hosts", "allow", i, "hosts", j),
                            f"{host} is not a public address ({refusal.kind}): the proxy refuses "
                            "to dial it unless hosts.allow_private covers it; add it there too"))
    return out


def _paths_overlap(a: Credential, b: Credential) -> bool:
    if a.path is None or b.path is None:
        return True
    return path_has_prefix(a.path, b.path) or path_has_prefix(b.path, a.path)


def _check_credentials(policy: Policy) -> list[tuple[tuple[int | str, ...], str]]:
    out: list[tuple[tuple[int | str, ...], str]] = []
    hosts = HostPolicy(policy.hosts)
    names: dict[str, int] = {}
    envs: dict[str, int] = {}
    for i, cred in enumerate(policy.credentials):
        if cred.name in names:
            out.append((("credentials", i, "name"),
                        f"credential name {cred.name!r} is already used by credentials[{names[cred.name]}]"))
        names.setdefault(cred.name, i)
        env = cred.placeholder.env
        if env in CLIENT_VARS:
            out.append((("credentials", i, "placeholder", "env"),
                        f"{env} is set by the proxy itself; choose another variable"))
        elif env in envs and policy.credentials[envs[env]].source != cred.source:
            out.append((("credentials", i, "placeholder", "env"),
                        f"{env} already carries the placeholder of credentials[{envs[env]}], whose "
                        "source differs; credentials may share a placeholder only with their source"))
        envs.setdefault(env, i)
        if hosts.check_host(cred.host) is not None:
            out.append((("credentials", i, "host"),
                        f"{cred.host} is not allowed by hosts.allow, so this credential could "
                        "never be used; allow the host too"))
        elif hosts.is_passthrough(cred.host):
            out.append((("credentials", i, "host"),
                        f"{cred.host} is a passthrough host: its TLS is not intercepted, so no "
                        "credential can be injected; remove it from hosts.passthrough"))
        for j, other in enumerate(policy.credentials[:i]):
            same_slot = (cred.target_header is not None and cred.target_header == other.target_header) \
                or (cred.query is not None and cred.query == other.query)
            if cred.host == other.host and same_slot and _paths_overlap(cred, other):
                where = f"the {cred.target_header} header" if cred.target_header else \
                    f"the {cred.query} query parameter"
                out.append((("credentials", i),
                            f"credentials[{j}] ({other.name}) already puts a credential in {where} "
                            f"of requests to {cred.host}; give them disjoint `path` prefixes"))
    return out


def read_known_secret(source: KnownSecretSource) -> str:
    """The value a `dlp.known_secrets` entry names. Raises ValueError saying what is wrong
    (never quoting the value)."""
    if source.env is not None:
        value = os.environ.get(source.env)
        if value is None:
            raise ValueError(f"environment variable {source.env} is not set")
    else:
        assert source.file is not None
        try:
            value = Path(source.file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ValueError(f"cannot read {source.file}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise ValueError(f"{source.file} is not UTF-8 text") from None
    if len(value) < MIN_SECRET_LEN:
        raise ValueError(f"the value is shorter than {MIN_SECRET_LEN} characters: too short to "
                         "match without false positives")
    return value


def _check_dlp(policy: Policy) -> list[tuple[tuple[int | str, ...], str]]:
    from egress.sources.dlp_catalogue import rule_reference

    known = rule_reference()
    out: list[tuple[tuple[int | str, ...], str]] = []
    for rule in policy.dlp.actions:
        if rule not in known:
            out.append((("dlp", "actions", rule),
                        f"unknown DLP rule {rule!r} (list them with `bottle dlp rules`)"))
    for i, sup in enumerate(policy.dlp.suppress):
        for j, rule in enumerate(sup.rules):
            if rule != "*" and rule not in known:
                out.append((("dlp", "suppress", i, "rules", j), f"unknown DLP rule {rule!r}"))
    for i, source in enumerate(policy.dlp.known_secrets):
        try:
            read_known_secret(source)
        except ValueError as e:
            out.append((("dlp", "known_secrets", i, "env" if source.env else "file"),
                        f"known secret {source.name!r}: {e}"))
    return out


SEMANTIC_CHECKS: list[SemanticCheck] = [_check_name_constraints, _check_passthrough,
                                        _check_private_literals, _check_credentials, _check_dlp]
# The top-level sections each check reads. When another section fails schema validation the
# loader still runs the checks that do not read it, so one pass reports every problem of a file.
CHECK_SECTIONS: dict[SemanticCheck, frozenset[str]] = {
    _check_name_constraints: frozenset({"ca", "hosts"}),
    _check_passthrough: frozenset({"hosts"}),
    _check_private_literals: frozenset({"hosts"}),
    _check_credentials: frozenset({"credentials", "hosts"}),
    _check_dlp: frozenset({"dlp"}),
}


@dataclass(frozen=True)
class CompiledPolicy:
    """One field per section that needs precomputed matchers; built once per (re)load, so a
    section that fails to compile rejects the whole file and the old policy stays."""

    policy: Policy
    source: str
    digest: str
    hosts: HostPolicy
    dlp: DLPEngine
    hostnames: HostnamePolicy
    dns: DnsPolicy
    mcp: McpPolicy

    @property
    def mode(self) -> str:
        return self.policy.mode


def policy_digest(raw: bytes) -> str:
    """The policy digest every tool shows (`policy check`, `policy explain`, the audit log):
    the first 16 hex digits of the SHA-256 of the file's bytes, i.e. of `sha256sum FILE`."""
    return hashlib.sha256(raw).hexdigest()[:16]


def _model_digest(policy: Policy) -> str:
    # Only for policies that never were a file (built in memory by tests and tools); every
    # command that reads a file passes its bytes (`egress.policy.store.load_compiled`).
    return "model-" + hashlib.sha256(policy.model_dump_json().encode()).hexdigest()[:10]


def compile_policy(policy: Policy, source: str, text: str | bytes = b"") -> CompiledPolicy:
    from egress.policy.problems import PolicyError, Problem
    from egress.scan.dlp import memo
    from egress.scan.dns import DnsPolicy
    from egress.scan.hostnames import HostnamePolicy
    from egress.scan.mcp.policy import McpPolicy
    from egress.sources.dlp_catalogue import dlp_engine

    raw = text.encode() if isinstance(text, str) else text
    hosts = HostPolicy(policy.hosts, source)
    known: list[tuple[str, str]] = []
    for i, secret in enumerate(policy.dlp.known_secrets):
        try:
            known.append((secret.name, read_known_secret(secret)))
        except ValueError as e:  # the source vanished between validation and compilation
            raise PolicyError([Problem(source, None, f"dlp.known_secrets[{i}]", str(e))]) from None
    dlp = dlp_engine(policy.dlp, known_values=known)
    # Compiled policies share one memory of whole scans, keyed by engine digest: a reload
    # that keeps the `dlp:` section, and the second policy of a diff, reuse what was found.
    dlp.memo = memo.MEMO
    _ = dlp.digest  # taken now, not inside the first scan's time budget
    return CompiledPolicy(
        policy=policy,
        source=source,
        digest=policy_digest(raw) if raw else _model_digest(policy),
        hosts=hosts,
        dlp=dlp,
        hostnames=HostnamePolicy(policy.hostnames),
        dns=DnsPolicy(policy.dns, hosts),
        mcp=McpPolicy(policy.mcp),
    )


def default_policy_path() -> Path:
    """The built-in default policy shipped in `policies/default.yaml`."""
    here = Path(__file__).resolve()
    candidates = [
        here.parents[2] / "policies" / "default.yaml",  # source checkout / editable install
        Path("/usr/share/bottle-egress/policies/default.yaml"),  # container images
    ]
    for c in candidates:
        if c.is_file():
            return c
    return candidates[0]
