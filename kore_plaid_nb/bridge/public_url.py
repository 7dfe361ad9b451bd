"""The bridge's own absolute URL, never taken from an unchecked ``Host`` header.

uvicorn already decides the scheme and the client address (``X-Forwarded-Proto`` / ``-For``
count only from FORWARDED_ALLOW_IPS); ``X-Forwarded-Host`` is never read. The ``Host``
header is anyone's to write, so it is used only when it names this bridge: the host of a
configured public URL (BRIDGE_PUBLIC_URL, LINK_REDIRECT_URI, the open tunnel, NGROK_DOMAIN) or
the address the connection reached (the bridge's own socket). Any other Host gets the
configured public URL instead.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from ..settings import Settings, ngrok_domain_url

DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def _tunnel_url(settings: Settings) -> str | None:
    """The runbook's tunnel as recorded in the state folder (read only: nothing created);
    the file is read again only when it changed (one ``stat`` per request otherwise)."""
    path = settings.home / "tunnel" / "tunnel.json"
    try:
        seen = path.stat()
    except OSError:
        return None
    key = (str(path), seen.st_ino, seen.st_mtime_ns, seen.st_size)
    cached = _tunnel_cache.get(str(path))
    if cached is not None and cached[0] == key:
        return cached[1]
    from ..tunnel import state  # the tunnel package pulls pyngrok: only when there is one

    info = state.read(settings.home)  # None for a file it cannot read
    url = info.public_url.rstrip("/") if info is not None else None
    _tunnel_cache[str(path)] = (key, url)
    return url


_tunnel_cache: dict[str, tuple[tuple[str, int, int, int], str | None]] = {}


def configured_urls(settings: Settings) -> list[str]:
    """The public base URLs configured for this bridge, most explicit first."""
    urls = [settings.bridge_public_url]
    if settings.link_redirect_uri:
        parts = urlsplit(settings.link_redirect_uri)
        urls.append(f"{parts.scheme}://{parts.netloc}")
    urls.append(_tunnel_url(settings))
    if settings.ngrok_domain:
        urls.append(ngrok_domain_url(settings.ngrok_domain))
    return [url.rstrip("/") for url in urls if url]


def _host_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return host.lower(), port or DEFAULT_PORTS.get(scheme, 0)


def _own_addresses(request: Request) -> set[tuple[str, int]]:
    server = request.scope.get("server")
    if not server or server[1] is None:
        return set()
    host, port = str(server[0]).lower(), int(server[1])
    names = {host}
    if host in LOOPBACK_NAMES:
        names.update(LOOPBACK_NAMES)
    return {(name, port) for name in names}


def request_base_url(settings: Settings, request: Request) -> str | None:
    """``scheme://host[:port]`` as the browser reached the bridge, when its Host header
    names this bridge; None for any other Host."""
    scheme = request.url.scheme
    netloc = request.headers.get("host", "")
    asked = _host_port(netloc, scheme)
    if asked is None:
        return None
    trusted = _own_addresses(request)
    for url in configured_urls(settings):
        parts = urlsplit(url)
        known = _host_port(parts.netloc, parts.scheme)
        if known is not None:
            trusted.add(known)
    if asked not in trusted:
        return None
    return _url(scheme, *asked)  # rebuilt: nothing of the header but a known host and port


def _url(scheme: str, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return (
        f"{scheme}://{shown}" if DEFAULT_PORTS.get(scheme) == port else f"{scheme}://{shown}:{port}"
    )


def own_base_url(request: Request) -> str | None:
    """The address the connection reached (the bridge's socket): no header involved."""
    server = request.scope.get("server")
    if not server or server[1] is None:
        return None
    return _url(request.url.scheme, str(server[0]), int(server[1]))


def public_base_url(settings: Settings, request: Request) -> str | None:
    """This bridge's base URL for absolute links: the one the browser used when its Host
    names this bridge, else the configured public URL, else the bridge's own address."""
    return (
        request_base_url(settings, request)
        or next(iter(configured_urls(settings)), None)
        or own_base_url(request)
    )
