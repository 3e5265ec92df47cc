"""bottle-egress: the inspecting egress proxy for AI coding agent bottles."""

__version__ = "0.1.0"
