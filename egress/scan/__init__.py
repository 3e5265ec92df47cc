"""Pure scanners: bytes/str in, `Finding`s out. Nothing here imports mitmproxy."""
