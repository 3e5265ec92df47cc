"""Our own message when the proxy cannot listen.

mitmproxy logs a bind failure itself and suggests its own `--mode regular@PORT` flag, which
`bottle` does not have. This filter takes those records out of the log and keeps their text;
the caller prints one line that names the address, the cause and the `bottle` flag to use.
"""

from __future__ import annotations

import logging
import re

_LOGGER = "mitmproxy.addons.proxyserver"
_ERRNO = re.compile(r"\[Errno (\d+)\]")


class ListenErrors(logging.Filter):
    """`install()` before mitmproxy starts, `remove()` after; `messages` holds what was dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "failed to listen" in text:
            self.messages.append(text)
            return False
        return True

    def install(self) -> ListenErrors:
        logging.getLogger(_LOGGER).addFilter(self)
        return self

    def remove(self) -> None:
        logging.getLogger(_LOGGER).removeFilter(self)

    def explain(self, host: str, port: int) -> str:
        """One line for stderr: where, why, and what to do instead."""
        where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        text = "\n".join(self.messages)
        codes = {int(n) for n in _ERRNO.findall(text)}
        if 98 in codes or "address already in use" in text:
            return (f"bottle egress: cannot listen on {where}: the port is already in use (another "
                    f"`bottle egress run`?); choose another with --listen {host}:PORT, or "
                    f"--listen {host}:0 for a free one")
        if 13 in codes or "permission denied" in text.lower():
            return (f"bottle egress: cannot listen on {where}: permission denied (ports below 1024 "
                    "need root); choose another with --listen HOST:PORT")
        if 99 in codes or "cannot assign requested address" in text:
            return (f"bottle egress: cannot listen on {where}: no interface of this host has that "
                    "address; use 127.0.0.1, 0.0.0.0 or one of this host's addresses in --listen")
        reason = text.splitlines()[0].rsplit(": ", 1)[-1] if text else "see the error above"
        return f"bottle egress: cannot listen on {where}: {reason}"
