"""mitmproxy addons: one per concern, each a thin adapter from flows to `egress.scan`.

Every addon is registered through `addons.guard.Guarded`, so an exception in any hook
blocks the flow (fail closed) instead of letting mitmproxy log it and carry on.
"""
