"""Where the proxy's inputs come from: secrets from the environment, files and commands; derived
caches; persisted MCP pins. The I/O that scanners must not do themselves."""
