"""boto3 S3 clients for aliases.

Addressing: an alias's ``path`` is ``on`` (path style), ``off`` (virtual-hosted style) or
``auto``: virtual-hosted style only for AWS endpoints (``*.amazonaws.com``), path style for
everything else, which covers IP addresses, ``localhost`` and self-hosted servers without
wildcard DNS (mc decides the same way). TLS is verified against the system store, or the
alias's CA file; ``insecure`` turns verification off.
"""

from __future__ import annotations

import functools
import ipaddress
import warnings
from typing import Any
from urllib.parse import urlsplit

from strongroom import __version__
from strongroom.client.aliases import Alias
from strongroom.client.errors import UsageError

__all__ = ["Connections", "addressing_style", "make_s3_client", "verify_setting"]

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 300.0


def addressing_style(alias: Alias) -> str:
    if alias.path == "on":
        return "path"
    if alias.path == "off":
        return "virtual"
    host = (urlsplit(alias.url).hostname or "").lower()
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return "path"
    if host == "localhost" or host.endswith(".localhost"):
        return "path"
    return "virtual" if host.endswith(".amazonaws.com") else "path"


def verify_setting(alias: Alias) -> bool | str:
    if alias.insecure:
        return False
    return alias.ca or True


def quiet_insecure_warnings() -> None:
    """``--insecure`` was asked for: do not print urllib3's warning on every request."""
    from urllib3.exceptions import InsecureRequestWarning

    warnings.filterwarnings("ignore", category=InsecureRequestWarning)


@functools.cache
def _session() -> Any:
    """One boto3 session per process: its loader caches the S3 model (~150 ms per client)."""
    import boto3  # type: ignore[import-untyped]

    return boto3.session.Session()


def make_s3_client(alias: Alias) -> Any:
    from botocore.config import Config  # type: ignore[import-untyped]

    if not alias.access_key or not alias.secret_key:
        raise UsageError(f"alias `{alias.name}` has no credentials")
    if alias.insecure:
        quiet_insecure_warnings()
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": addressing_style(alias)},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        user_agent_extra=f"strongroom-client/{__version__}",
        max_pool_connections=16,
    )
    client = _session().client(
        "s3",
        endpoint_url=alias.url,
        aws_access_key_id=alias.access_key,
        aws_secret_access_key=alias.secret_key,
        region_name=alias.region,
        verify=verify_setting(alias),
        config=config,
    )
    _no_expect_continue(client)
    return client


def _no_expect_continue(client: Any) -> None:
    """Send bodies without ``Expect: 100-continue`` (as mc does).

    botocore keeps the status line of a final response received instead of ``100 Continue``
    in its connection, and the next ``Expect`` request on that keep-alive connection then
    reads a stale status and hangs. A server may lawfully answer an ``Expect`` request at
    once (an empty body, an early error), so the client does not ask.
    """
    from botocore.handlers import add_expect_header  # type: ignore[import-untyped]

    client.meta.events.unregister("before-call.s3", add_expect_header)


class Connections:
    """One S3 client per alias, made on first use."""

    def __init__(self, aliases: dict[str, Alias]) -> None:
        self.aliases = aliases
        self._clients: dict[str, Any] = {}

    def alias(self, name: str) -> Alias:
        try:
            return self.aliases[name]
        except KeyError:
            raise UsageError(f"no alias `{name}`") from None

    def s3(self, name: str) -> Any:
        if name not in self._clients:
            self._clients[name] = make_s3_client(self.alias(name))
        return self._clients[name]

    def close(self) -> None:
        """Close every client's connection pool."""
        clients, self._clients = self._clients, {}
        for client in clients.values():
            client.close()
