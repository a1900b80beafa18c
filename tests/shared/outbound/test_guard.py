"""The SSRF guard: which addresses it refuses, in every spelling, and that the connection goes
to the address it checked. Over real HTTP to receivers on loopback; names that must lead
elsewhere resolve through a stand-in for getaddrinfo, and a backend that dials loopback
only makes sure nothing leaves the machine even if the guard were wrong."""

from __future__ import annotations

import datetime
import http.server
import re
import socket
import ssl
import threading
from ipaddress import ip_address, ip_network
from pathlib import Path

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.errors import DestinationRefused
from shared.outbound.guard import check_url, guarded_client, refusal
from tests.support.receivers import Receiver

ANY = ()
LOOPBACK_ONE = (ip_network("127.0.0.1/32"),)


# -- the address check, over a table ------------------------------------------------------

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fd12:3456::1": "private",
    "169.254.169.254": "link-local",  # the cloud metadata service
    "fe80::1": "link-local",
    "fe80::1%eth0": "link-local",
    "100.64.0.1": "carrier-grade NAT",
    "100.127.255.254": "carrier-grade NAT",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "0.1.2.3": "private",  # "this network"
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "192.0.2.1": "private",  # documentation
    "198.18.0.1": "private",  # benchmarking
    "2001:db8::1": "private",  # documentation
    "3fff::1": "documentation",
    "fec0::1": "site-local",
    "64:ff9b:1::1": "local-use NAT64",
    "192.88.99.1": "6to4 relay",
    # IPv4 carried in IPv6: judged by where it leads.
    "::ffff:127.0.0.1": "loopback address (IPv4-mapped 127.0.0.1)",
    "::ffff:169.254.169.254": "link-local address (IPv4-mapped 169.254.169.254)",
    "::ffff:10.0.0.1": "private address (IPv4-mapped 10.0.0.1)",
    "::7f00:1": "loopback address (IPv4-compatible 127.0.0.1)",
    "2002:7f00:1::": "loopback address (6to4 127.0.0.1)",
    "2002:a9fe:a9fe::1": "link-local address (6to4 169.254.169.254)",
    "2001:0:4136:e378:8000:63bf:80ff:fffe": "loopback address (Teredo 127.0.0.1)",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7": "Teredo tunnel",
    "64:ff9b::7f00:1": "loopback address (NAT64 127.0.0.1)",
    "64:ff9b::a9fe:a9fe": "link-local address (NAT64 169.254.169.254)",
    "64:ff9b::6440:1": "carrier-grade NAT) address (NAT64 100.64.0.1)",
}

PUBLIC = ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808"]


@pytest.mark.parametrize(("address", "why"), REFUSED.items())
def test_every_address_outside_the_public_internet_is_refused_saying_what_it_is(address, why):
    reason = refusal(ip_address(address))
    assert reason is not None and why in reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert refusal(ip_address(address)) is None


def test_an_allowed_range_lets_its_addresses_through_and_no_others():
    assert refusal(ip_address("127.0.0.1"), allow=LOOPBACK_ONE) is None
    assert refusal(ip_address("::ffff:127.0.0.1"), allow=LOOPBACK_ONE) is None  # the same place
    assert "loopback" in (refusal(ip_address("127.0.0.2"), allow=LOOPBACK_ONE) or "")
    assert "loopback" in (refusal(ip_address("::1"), allow=LOOPBACK_ONE) or "")
    assert refusal(ip_address("10.20.0.5"), allow=(ip_network("10.20.0.0/16"),)) is None
    assert "private" in (refusal(ip_address("10.21.0.5"), allow=(ip_network("10.20.0.0/16"),)) or "")


# Every spelling the resolver accepts for an address is judged as that address.
WRITTEN = {
    "http://127.0.0.1/": "127.0.0.1",
    "http://2130706433/": "127.0.0.1",  # decimal
    "http://017700000001/": "127.0.0.1",  # octal
    "http://0x7f000001/": "127.0.0.1",  # hex
    "http://0x7f.1/": "127.0.0.1",  # hex, short
    "http://127.1/": "127.0.0.1",  # short
    "http://127.0.0.1./": "127.0.0.1",  # trailing dot
    "http://localhost/": "127.0.0.1",
    "http://LocalHost./": "127.0.0.1",
    "http://hooks.localhost/": "127.0.0.1",
    "http://0/": "0.0.0.0",
    "http://[::1]:8080/": "::1",
    "http://[::ffff:127.0.0.1]/": "127.0.0.1",
    "http://[0:0:0:0:0:ffff:7f00:1]/": "127.0.0.1",
    "http://[fe80::1%25eth0]/": "fe80::1",
    "http://169.254.169.254/latest/meta-data/": "169.254.169.254",
    "http://[::ffff:a9fe:a9fe]/": "169.254.169.254",
    "https://10.0.0.8/hook": "10.0.0.8",
}


@pytest.mark.parametrize(("url", "address"), WRITTEN.items())
def test_a_url_written_with_a_refused_address_is_refused_at_load_naming_it(url, address):
    with pytest.raises(ValueError, match="MARQUEE_OUTBOUND_ALLOW") as refused:
        check_url(url)
    assert address in str(refused.value) or ip_address(address).exploded in str(refused.value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://hooks.example/", "http(s)"),
        ("hooks.example/in", "http(s)"),
        ("http:///in", "no host"),
        ("http://0177.0.0.1/", "not a URL"),  # httpx refuses leading zeros outright
    ],
)
def test_a_url_no_delivery_could_use_is_refused_at_load(url, problem):
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        check_url(url)


def test_public_urls_and_names_pass_the_load_check():
    for url in ("https://hooks.example/in", "http://8.8.8.8/", "https://[2606:4700::1111]/"):
        check_url(url)
    check_url("http://127.0.0.1:9/", allow=LOOPBACK_ONE)


# -- over real HTTP ----------------------------------------------------------------------


class LoopbackOnly(httpcore.NetworkBackend):
    """The test's safety net: dials 127.0.0.1/127.0.0.2 only, and records what it dialled."""

    def __init__(self):
        self.dialled: list[str] = []
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.dialled.append(host)
        assert ip_address(host).is_loopback, f"the guard let a connection to {host} through"
        return self._backend.connect_tcp(host, port, timeout, local_address, socket_options)

    def sleep(self, seconds):
        self._backend.sleep(seconds)


@pytest.fixture
def resolver(monkeypatch):
    """Names the test gives resolve as it says, each answer in turn (the last one repeats);
    every other lookup goes to the real getaddrinfo. Returns (names, lookups made)."""
    real = socket.getaddrinfo
    names: dict[str, list[str | tuple[str, ...]]] = {}
    lookups: list[str] = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in names or flags & socket.AI_NUMERICHOST:
            return real(host, port, family, type, proto, flags)
        lookups.append(host)
        answer = names[host][min(lookups.count(host), len(names[host])) - 1]
        addresses = (answer,) if isinstance(answer, str) else answer
        return [info for a in addresses for info in real(a, port, family, type, proto, flags | socket.AI_NUMERICHOST)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names, lookups


@pytest.fixture
def receiver():
    started: list[Receiver] = []

    def start(respond=lambda n, r: (204, {}), **where) -> Receiver:
        started.append(Receiver(respond, **where))
        return started[-1]

    yield start
    for r in started:
        r.stop()


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",
        "017700000001",
        "0x7f.1",
        "127.1",
        "localhost",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "0",  # 0.0.0.0: Linux dials the local host
    ],
)
def test_loopback_in_any_spelling_is_refused_before_a_byte_is_sent(receiver, host):
    listening = receiver()
    backend = LoopbackOnly()
    with (
        guarded_client(allow=ANY, timeout=5, backend=backend) as client,
        pytest.raises(DestinationRefused, match=r"loopback|unspecified"),
    ):
        client.post(f"http://{host}:{listening.port}/hook", content=b"{}")
    assert listening.received == [] and backend.dialled == []


@pytest.mark.parametrize(("address", "why"), [(a, w) for a, w in REFUSED.items() if not a.startswith("fe80::1%")])
def test_a_name_resolving_to_any_refused_address_is_refused_before_dialling(resolver, address, why):
    names, _ = resolver
    names["hooks.test"] = [address]
    backend = LoopbackOnly()
    with (
        guarded_client(allow=ANY, timeout=5, backend=backend) as client,
        pytest.raises(DestinationRefused, match=r"hooks\.test resolves to") as refused,
    ):
        client.post("http://hooks.test:8080/hook", content=b"{}")
    assert why in str(refused.value) and backend.dialled == []


def test_one_refused_address_among_several_refuses_the_name(resolver, receiver):
    listening = receiver()
    names, _ = resolver
    names["one.test"] = ["127.0.0.1"]
    names["both.test"] = [("127.0.0.1", "10.0.0.1")]
    backend = LoopbackOnly()
    with guarded_client(allow=LOOPBACK_ONE, timeout=5, backend=backend) as client:
        assert client.post(f"http://one.test:{listening.port}/hook", content=b"{}").status_code == 204
        with pytest.raises(DestinationRefused, match=re.escape("10.0.0.1, a private address")):
            client.post(f"http://both.test:{listening.port}/hook", content=b"{}")
    assert len(listening.received) == 1 and backend.dialled == ["127.0.0.1"]


def test_the_connection_goes_to_the_address_checked_not_a_second_answer(resolver, receiver):
    """DNS rebinding: the name answers 127.0.0.1 (allowed) when checked and 127.0.0.2 (refused)
    from then on. The request reaches 127.0.0.1, with the name in its Host header."""
    checked = receiver()
    rebound = receiver(host="127.0.0.2", port=checked.port)
    names, lookups = resolver
    names["rebind.test"] = ["127.0.0.1", "127.0.0.2"]
    with guarded_client(allow=LOOPBACK_ONE, timeout=5) as client:
        response = client.post(f"http://rebind.test:{checked.port}/hook", content=b'{"n": 1}')
    assert response.status_code == 204
    assert [r.body for r in checked.received] == [b'{"n": 1}'] and rebound.received == []
    assert checked.received[0].headers["host"] == f"rebind.test:{checked.port}"
    assert lookups == ["rebind.test"]  # looked up once: the dial used the answer checked

    # A later connection looks the name up afresh, and is refused on the new answer.
    with (
        guarded_client(allow=LOOPBACK_ONE, timeout=5) as client,
        pytest.raises(DestinationRefused, match=re.escape("127.0.0.2, a loopback address")),
    ):
        client.post(f"http://rebind.test:{checked.port}/hook", content=b"{}")
    assert rebound.received == []


def test_https_to_the_pinned_address_sends_the_name_as_sni_and_checks_the_certificate_against_it(resolver, tmp_path):
    names, _ = resolver
    names["secure.test"] = ["127.0.0.1"]
    server, trust, seen_sni = _tls_receiver("secure.test", tmp_path)
    try:
        with guarded_client(allow=LOOPBACK_ONE, timeout=5, verify=trust) as client:
            response = client.post(f"https://secure.test:{server.server_address[1]}/hook", content=b"{}")
        assert response.status_code == 204
        assert seen_sni == ["secure.test"]
        # The same address under another name fails verification: the name is what is checked.
        names["other.test"] = ["127.0.0.1"]
        with (
            guarded_client(allow=LOOPBACK_ONE, timeout=5, verify=trust) as client,
            pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|match"),
        ):
            client.post(f"https://other.test:{server.server_address[1]}/hook", content=b"{}")
    finally:
        server.shutdown()
        server.server_close()


def test_redirects_are_not_followed_and_a_followed_hop_would_be_checked_too(receiver):
    target = receiver(host="127.0.0.2")
    redirector = receiver(lambda n, r: (307, {"Location": target.url}))
    with guarded_client(allow=LOOPBACK_ONE, timeout=5) as client:
        assert client.post(redirector.url, content=b"{}").status_code == 307
        with pytest.raises(DestinationRefused, match=re.escape("127.0.0.2, a loopback address")):
            client.post(redirector.url, content=b"{}", follow_redirects=True)
    assert target.received == [] and len(redirector.received) == 2


def test_proxy_settings_in_the_environment_are_ignored(monkeypatch, receiver):
    # A proxy would be dialled instead of the checked address; the client never uses one.
    listening = receiver()
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.2:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.2:9")
    with guarded_client(allow=LOOPBACK_ONE, timeout=5) as client:
        assert client.post(listening.url, content=b"{}").status_code == 204


def _tls_receiver(name: str, folder: Path):
    """An HTTPS server on 127.0.0.1 with a certificate for ``name``; (server, a client context
    trusting it, the SNI names it was sent)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    seen_sni: list[str | None] = []
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(key_pem)
    server_context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server_context.sni_callback = lambda sock, server_name, ctx: seen_sni.append(server_name)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    trust = ssl.create_default_context(cadata=cert_pem.decode())
    return server, trust, seen_sni
