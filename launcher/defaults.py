"""Image names the launcher and its CLI share (no Docker import: the CLI parser uses them)."""

from __future__ import annotations

EGRESS = "bottle-egress"
AGENT = "bottle-agent"
SQUID = "bottle-squid-test"
DEFAULT_PIPELOCK_IMAGE = "ghcr.io/luckypipewrench/pipelock"
BUILD_COMMAND = "bottle image build"
OFFLINE_BUILD_COMMAND = "sudo bottle image build --offline"
