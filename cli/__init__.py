"""`bottle`'s command line: argparse front ends for the proxy, policy review, replay, DLP and
MCP tools, the launcher and Kubernetes rendering. User errors print one message, never a traceback."""
