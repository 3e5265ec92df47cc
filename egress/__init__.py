"""bottle-egress's pure core: policy, findings, verdicts, audit, and the scanners in `scan/`.

Nothing here imports mitmproxy, the addons, the proxy engine, the CLI or the launcher, and
importing it does nothing but define names (tests in `tests/test_architecture.py` hold that).
"""

__version__ = "0.1.0"
