"""The mitmproxy engine: the embedded master, the addon chain, TLS with the bottle CA, flow
files, replay and policy tests over them, and the DNS guard server."""
