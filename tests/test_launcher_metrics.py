"""`bottle start --inspect --metrics-port P`: the docker arguments and egress command it makes,
and the Kubernetes contract constants, checked against the real `bottle egress run` parser.

Unit tests of generated arguments only: the launcher's end-to-end test uses fixed container
names and shares the engine with other runs. The binding itself (a listener on the address of
the container's hostname, published on 127.0.0.1, refused from a second internal network the
container joins later) is what `METRICS_PORT`'s comment describes."""

from __future__ import annotations

import pytest

from cli.commands import build_parser
from deploy import kubernetes
from launcher.bottle import EGRESS_HOSTNAME, METRICS_PORT, StartOptions
from launcher.errors import LauncherError
from launcher.start import check_metrics_port, egress_command, egress_metrics_kwargs
from proxy import metrics_http
from proxy.config import parse_listen


def test_metrics_port_publishes_on_host_loopback_and_listens_on_the_egress_side_only() -> None:
    opts = StartOptions(name="b1", inspect=True, metrics_port=19090)
    cmd = egress_command(opts, "none", None, None)
    flag = cmd.index("--metrics-listen")
    assert cmd[flag + 1] == f"{EGRESS_HOSTNAME}:{METRICS_PORT}"
    assert "0.0.0.0" not in cmd[flag + 1]  # never every interface: the agent's network is one
    args = build_parser().parse_args(cmd)  # the flag exists in the real CLI
    assert parse_listen(args.metrics_listen, "--metrics-listen") == (EGRESS_HOSTNAME, METRICS_PORT)
    assert egress_metrics_kwargs(opts) == {
        "hostname": EGRESS_HOSTNAME, "ports": {f"{METRICS_PORT}/tcp": ("127.0.0.1", 19090)}}


def test_without_metrics_port_nothing_is_published_or_listened_on() -> None:
    opts = StartOptions(name="b1", inspect=True)
    assert "--metrics-listen" not in egress_command(opts, "none", None, None)
    assert egress_metrics_kwargs(opts) == {}
    check_metrics_port(opts)


@pytest.mark.parametrize(("opts", "message"), [
    (StartOptions(name="b1", metrics_port=19090), "--metrics-port needs --inspect"),
    (StartOptions(name="b1", inspect=True, metrics_port=70000), "--metrics-port 70000: expected a port"),
])
def test_bad_metrics_port_is_a_usage_error(opts: StartOptions, message: str) -> None:
    with pytest.raises(LauncherError) as e:
        check_metrics_port(opts)
    assert message in str(e.value)
    assert e.value.exit_code == 2


def test_kubernetes_manifests_probe_the_paths_the_listener_serves() -> None:
    assert kubernetes.METRICS_PATH == metrics_http.METRICS_PATH
    assert kubernetes.HEALTH_PATH == metrics_http.HEALTH_PATH
    assert kubernetes.READY_PATH == metrics_http.READY_PATH
    args = build_parser().parse_args(["egress", "run", kubernetes.METRICS_FLAG,
                                      f"0.0.0.0:{kubernetes.METRICS_PORT}"])
    assert parse_listen(args.metrics_listen) == ("0.0.0.0", kubernetes.METRICS_PORT)
