"""No outbound connections from the review server, whoever asks for one.

The server handles PHI and only ever needs to talk to the browsers that reach it. Gradio can
fetch URLs on a client's say-so (a ``/file=`` route given a URL, a file input whose path is a
URL) and only refuses private addresses, not public ones. The HTTP gate (``gate.py``) refuses
those requests; this is the floor beneath it: an audit hook (PEP 578) that makes every
``socket.connect`` and name lookup to anything but this machine fail with ``PermissionError``
before a packet leaves, in whatever library or thread makes it.
"""

import ipaddress
import socket
import sys
import threading
from collections.abc import Iterable
from typing import Any

_LOCAL_NAMES = frozenset({"", "localhost", "localhost.localdomain", "ip6-localhost"})
_state: dict[str, Any] = {"installed": False, "allowed": None}
_lock = threading.Lock()


def _is_local(host: Any, allowed: frozenset[str]) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    name = str(host).strip("[]").split("%", 1)[0].lower()
    if name in _LOCAL_NAMES or name in allowed:
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1
    return ip.is_loopback or ip.is_unspecified or str(ip) in allowed


def _audit(event: str, args: tuple[Any, ...]) -> None:
    allowed = _state["allowed"]
    if allowed is None or event not in ("socket.connect", "socket.getaddrinfo"):
        return
    if event == "socket.connect":
        sock, address = args[0], args[1]
        if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
            return  # a Unix socket stays on this machine
        host = address[0] if isinstance(address, tuple) else address
    else:
        host = args[0]
    if not _is_local(host, allowed):
        raise PermissionError(
            f"codesuggest serve makes no outbound connections (refused: {host!s:.80})"
        )


def refuse_outbound(allowed_hosts: Iterable[str] = ()) -> None:
    """From now on refuse connections and name lookups to anything but this machine.

    Args:
        allowed_hosts: more names or addresses that count as this machine (the address the
            server binds to, when that is not loopback).
    """
    with _lock:
        if not _state["installed"]:
            sys.addaudithook(_audit)  # a hook cannot be removed, only switched off below
            _state["installed"] = True
        _state["allowed"] = frozenset(h.strip("[]").lower() for h in allowed_hosts)


def allow_outbound() -> None:
    """Switch the refusal off again (for a server started inside a longer-lived process)."""
    _state["allowed"] = None
