"""Where the proxy's inputs come from: secrets from env, files and commands, derived caches, persisted pins (the I/O scanners must not do)."""
