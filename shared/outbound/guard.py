"""The SSRF guard: outbound webhooks reach public addresses only, and the address checked is
the address dialled.

A subscriber's or writer's URL is someone else's input. Unchecked, a URL such as
``http://169.254.169.254/latest/meta-data/`` or ``http://127.0.0.1:6379/`` turns the notify
workers into a way into the cloud's metadata service, Redis, or anything else on the
private network. So every delivery goes through a connection that:

1. resolves the host name once (``getaddrinfo``: the resolver itself decodes every spelling
   of an address, decimal ``2130706433``, octal, hex, short ``127.1``, IPv6 ``[::1]``,
   so the check sees what would be dialled, never a spelling);
2. refuses if **any** address it resolves to is not public (``refusal``): loopback,
   private, link-local (the metadata service), multicast, reserved, unspecified, shared
   (CGNAT 100.64/10), documentation and benchmarking ranges, and an IPv4 address of any of
   those carried inside IPv6 (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64), unless
   the range is in ``MARQUEE_OUTBOUND_ALLOW``;
3. connects to the checked address itself, never the name: there is no second lookup for
   a short-lived DNS answer to change (DNS rebinding). The request still carries the
   original ``Host`` header, and for https the original name as SNI, so the certificate
   is checked against the name as usual.

Redirects are not followed (httpx's ``follow_redirects=False``), and the client ignores
proxy settings in the environment (``trust_env=False``), which would dial a proxy instead.
Were redirects ever followed, each hop would open its connection here and be checked too.

Written here rather than taken from a library: advocate (requests only) is archived
unmaintained; safehttpx and httpx-secure wrap only httpx's async client (deliveries use the
sync one) and neither takes an operator's allowed ranges; the rest are young single-author
releases. The guard is a small httpcore network backend on top of Python's ``ipaddress``,
whose ``is_global`` misses multicast, site-local and NAT64 on Python 3.11: those are
checked explicitly.

``check_url`` is the check made when the subscribers and writers files are loaded: the URL
parses, is http(s), and an address written in it (in any spelling) is allowed. It does
no DNS; a name is checked when a delivery is made, which is the check that counts.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import httpcore
import httpx

from shared.errors import DestinationRefused

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address

ALLOW_HINT = (
    "Marquee sends webhooks to public addresses only; an operator can allow a range with MARQUEE_OUTBOUND_ALLOW"
)

# Not public, though Python 3.11's ipaddress counts them global (or names them vaguely).
_NOT_PUBLIC: dict[Network, str] = {
    ip_network("100.64.0.0/10"): "a shared (carrier-grade NAT) address",
    ip_network("192.88.99.0/24"): "a 6to4 relay address",
    ip_network("64:ff9b:1::/48"): "a local-use NAT64 address",
    ip_network("3fff::/20"): "a documentation address",
    ip_network("5f00::/16"): "a segment-routing address",
}
_NAT64 = ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ip_network("::/96")


def refusal(address: Address, *, allow: Sequence[Network] = ()) -> str | None:
    """Why Marquee will not send to ``address`` (e.g. "a loopback address"), or None if it may.

    An IPv6 address that carries an IPv4 one is judged by the IPv4 address it leads to.
    """
    embedded = _embedded_ipv4(address)
    if _allowed(address, allow) or (embedded is not None and _allowed(embedded[1], allow)):
        return None
    if embedded is not None:
        form, inner = embedded
        reason = _category(inner)
        if reason is not None:
            return f"{reason} ({form} {inner})"
        if form == "Teredo":
            return "a Teredo tunnel address"
        if form in ("IPv4-mapped", "6to4", "NAT64"):
            return None  # a public IPv4 address reached another way
    return _category(address)


def _allowed(address: Address, allow: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in allow)


def _embedded_ipv4(address: Address) -> tuple[str, IPv4Address] | None:
    """(how, the IPv4 address) an IPv6 address leads to, if it leads to one."""
    if not isinstance(address, IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    if address.teredo is not None:
        return "Teredo", address.teredo[1]
    if address in _NAT64:
        return "NAT64", IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # :: and ::1 are themselves
        return "IPv4-compatible", IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _category(address: Address) -> str | None:
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"  # 169.254.169.254 among them: instance metadata
    if address.is_multicast:
        return "a multicast address"
    for network, reason in _NOT_PUBLIC.items():
        if address.version == network.version and address in network:
            return reason
    if isinstance(address, IPv6Address) and address.is_site_local:
        return "a site-local address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "an address that is not globally routable"
    return None


def resolve_checked(host: str, port: int, *, allow: Sequence[Network]) -> list[str]:
    """Every address ``host`` resolves to, once; refused whole if any of them is refused."""
    try:
        # socket.getaddrinfo is looked up at each call, so a test can stand in for DNS.
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc  # DNS may recover: retried
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    for text in addresses:
        address = ip_address(text)
        reason = refusal(address, allow=allow)
        if reason is not None:
            raise DestinationRefused(f"{host} resolves to {address}, {reason}; {ALLOW_HINT}")
    return addresses


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend, dialling only addresses ``resolve_checked`` let through."""

    def __init__(self, *, allow: Sequence[Network], backend: httpcore.NetworkBackend | None = None):
        self._allow = tuple(allow)
        self._backend = backend or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        failure: httpcore.ConnectError | None = None
        for address in resolve_checked(host, port, allow=self._allow):
            try:
                # An address literal: the backend's own getaddrinfo parses it, it never asks DNS.
                return self._backend.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc  # the next address, as socket.create_connection would
        assert failure is not None  # resolve_checked returns at least one address or raises
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.NetworkStream:
        raise DestinationRefused("webhooks are sent over TCP only")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with its connection pool on a ``GuardedBackend``."""

    def __init__(
        self,
        *,
        allow: Sequence[Network],
        verify: ssl.SSLContext | bool = True,
        backend: httpcore.NetworkBackend | None = None,
    ):
        ssl_context = httpx.create_ssl_context(verify=verify, trust_env=False)
        super().__init__(verify=ssl_context, trust_env=False)
        limits = httpx.Limits()
        # httpx takes no network backend, so its pool is replaced by one like it that has ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allow=allow, backend=backend),
        )


def guarded_client(
    *,
    allow: Sequence[Network],
    timeout: float,
    verify: ssl.SSLContext | bool = True,
    backend: httpcore.NetworkBackend | None = None,
) -> httpx.Client:
    """An httpx client for outbound webhooks: guarded connections, no redirects, no proxies."""
    return httpx.Client(
        transport=GuardedTransport(allow=allow, verify=verify, backend=backend),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
    )


def check_url(url: str, *, allow: Sequence[Network] = ()) -> None:
    """Raise ValueError, saying why, for a URL no delivery could go to: not http(s), no host,
    or an address (in any spelling, or ``localhost``) that is refused. No DNS is asked."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"{url!r} is not a URL ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise ValueError(f"{url!r} must be an http(s) URL")
    if not parsed.host:
        raise ValueError(f"{url!r} has no host")
    for address in _written_addresses(parsed.host):
        reason = refusal(address, allow=allow)
        if reason is not None:
            raise ValueError(f"{url!r} leads to {address}, {reason}; {ALLOW_HINT}")


def _written_addresses(host: str) -> list[Address]:
    """The addresses a host names without DNS: an address literal in any spelling the resolver
    accepts, or localhost (RFC 6761); none for any other name."""
    host = host.rstrip(".").lower()  # "localhost." and "127.0.0.1." are the same places
    if host == "localhost" or host.endswith(".localhost"):
        return [IPv4Address("127.0.0.1"), IPv6Address("::1")]
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        try:
            return [ip_address(host.split("%")[0])]  # an IPv6 literal with a zone, fe80::1%eth0
        except ValueError:
            return []  # a name: checked when it is resolved for a delivery
    return [ip_address(str(info[4][0]).split("%")[0]) for info in found]
