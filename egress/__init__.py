"""bottle-egress: the inspecting egress proxy for AI coding agent bottles."""

from egress.lean_mitmproxy import defer_addon_package

__version__ = "0.1.0"

# Before anything here imports mitmproxy.master (see egress/lean_mitmproxy.py).
defer_addon_package()
