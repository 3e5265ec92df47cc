"""`bottle egress run` (the proxy, and the DNS guard beside it) and `bottle egress precompile`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from cli import envfile
from cli.conventions import EXIT_OK, EXIT_USAGE
from egress.envvars import as_shell
from egress.policy.compiled import default_policy_path
from egress.policy.model import parse_size
from egress.policy.store import load_compiled
from egress.scan.hostnames import native
from proxy.chain import load_addon_file
from proxy.config import (
    ConfigError,
    ProxyConfig,
    ProxyInfo,
    check_bottle_id,
    check_upstream,
    parse_listen,
)
from proxy.dns.addresses import DnsConfigError, client_instructions, parse_hostport
from proxy.master import serve


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("bottle-egress %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("mitmproxy").setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("egress").setLevel(logging.DEBUG if verbose else logging.INFO)


def _size(value: str, flag: str) -> int:
    try:
        size = parse_size(value)
    except ValueError as e:
        raise ConfigError(f"{flag}: {e}") from None
    if not isinstance(size, int) or size < 0:
        raise ConfigError(f"{flag}: {value!r} is not a size")
    return size


def cmd_egress_run(args: argparse.Namespace) -> int:
    _setup_logging(args.verbose)
    policy_path = Path(args.policy) if args.policy else default_policy_path()
    host, port = parse_listen(args.listen)
    extra = []
    for path in args.addon or []:
        extra.extend(load_addon_file(path))
    cfg = ProxyConfig(
        policy_path=policy_path,
        listen_host=host,
        listen_port=port,
        upstream=check_upstream(args.upstream) if args.upstream else None,
        upstream_ca=Path(args.upstream_ca) if args.upstream_ca else None,
        state_dir=Path(args.state_dir) if args.state_dir else None,
        audit_log=Path(args.audit_log) if args.audit_log else None,
        extra_addons=extra,
        record=Path(args.record) if args.record else None,
        record_max_body=_size(args.record_max_body, "--record-max-body"),
        dns_listen=_dns_address(args.dns_listen, "--dns-listen") if args.dns_listen else None,
        dns_upstream=_dns_address(args.dns_upstream, "--dns-upstream") if args.dns_upstream else None,
        allow_private=tuple(_private_network(v) for v in args.allow_private or []),
        any_port=args.any_port,
        export_dir=Path(args.export_dir) if args.export_dir else None,
        metrics_listen=(parse_listen(args.metrics_listen, "--metrics-listen", "127.0.0.1:9090")
                        if args.metrics_listen else None),
        agent_identities=Path(args.agent_identities) if args.agent_identities else None,
    )
    if args.dns_upstream and not args.dns_listen:
        raise ConfigError("--dns-upstream needs --dns-listen")
    if args.bottle_id:
        cfg.bottle_id = check_bottle_id(args.bottle_id)

    env_file = Path(args.env_file) if args.env_file else None
    if env_file is not None:
        if not env_file.parent.is_dir():
            raise ConfigError(f"--env-file {env_file}: directory {env_file.parent} does not exist")
        envfile.clear(env_file)  # a waiting script must not source an earlier run's file

    def ready(info: ProxyInfo) -> None:
        log = logging.getLogger("egress")
        if env_file is None:
            sys.stdout.write(as_shell(info.environment))
            sys.stdout.flush()
        else:
            envfile.write_atomically(env_file, as_shell(info.environment))
            log.info("client environment written to %s (source it: . %s)", env_file, env_file)
        log.info("bottle %s: proxy listening on %s (policy %s%s)", cfg.bottle_id, info.proxy_url,
                 policy_path, f", upstream {cfg.upstream}" if cfg.upstream else ", direct egress")
        log.info("CA bundle for clients: %s; audit log: %s", info.environment["SSL_CERT_FILE"],
                 info.audit_log)
        # which hostname scorer runs: compiled (scripts/setup.sh builds it) or pure Python
        log.info("hostname scorer: %s", native.status())
        if cfg.allow_private or cfg.any_port:
            log.warning("development settings: %s", ", ".join(
                [f"--allow-private {n}" for n in cfg.allow_private] + ["--any-port"] * cfg.any_port))
        if info.credentials:
            log.info("credential placeholders exported in %s (real values stay in the proxy)",
                     ", ".join(info.credentials))
        if info.dns is not None and info.dns_upstream is not None:
            for line in client_instructions(info.dns, info.dns_upstream):
                log.info("%s", line)
        log.info("Ctrl-C stops the proxy and destroys the bottle CA")

    try:
        return asyncio.run(serve(cfg, ready))
    finally:
        if env_file is not None:
            envfile.clear(env_file)  # the CA it points at is gone


def _private_network(value: str) -> str:
    from egress.addresses import parse_network

    try:
        return str(parse_network(value))
    except ValueError as e:
        raise ConfigError(f"--allow-private: {e}") from None


def cmd_egress_precompile(args: argparse.Namespace) -> int:
    from egress.sources import derived_cache
    from egress.sources.dlp_catalogue import CATALOGUE, load_rules

    policy_path = args.policy or str(default_policy_path())
    directory = Path(args.cache_dir) if args.cache_dir else derived_cache.user_dir()
    if directory is None:
        raise ConfigError("BOTTLE_EGRESS_CACHE=off: give --cache-dir DIR")
    with derived_cache.only(directory):
        load_rules(CATALOGUE.read_text(encoding="utf-8"), str(CATALOGUE))
        engine = load_compiled(policy_path).dlp
        # The per-rule ends databases a running proxy would compile in the background the
        # first time each rule is named in a long text (seconds in all): built now instead.
        compile_ends = getattr(engine.prefilter, "compile_ends", None)
        if compile_ends is not None:
            compile_ends(engine.windowed_rules())
    written = sorted(p.name for p in directory.glob("*.bin"))
    print(f"{directory}: {', '.join(written) or 'nothing written (not writable?)'}")
    return EXIT_OK if written else EXIT_USAGE


def _dns_address(value: str, flag: str) -> tuple[str, int]:
    try:
        return parse_hostport(value, 53, flag)
    except DnsConfigError as e:
        raise ConfigError(str(e)) from None
