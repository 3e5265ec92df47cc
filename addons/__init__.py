"""mitmproxy addons: one per concern, each a thin adapter from flows to `egress.scan`.

Addon modules import only `egress` (and mitmproxy), never each other: the flow glue they
share lives in `addons.support`. Every addon is registered through
`addons.support.failclosed.Guarded`, so an exception in any hook blocks the flow (fail closed)
instead of letting mitmproxy log it and carry on.
"""
