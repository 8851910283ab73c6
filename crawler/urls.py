"""URL identity: canonical_url() and repo_key(), the one definition both packages use."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

__all__ = ["InvalidURL", "canonical_url", "host_of", "is_http_url", "repo_key"]


class InvalidURL(ValueError):
    """The string is not an http(s) URL we accept (scheme, user-info, host)."""


# Query parameters that only track the visitor; removed on every host.
TRACKING_PARAMS = frozenset(
    {"ref", "ref_src", "ref_url", "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid",
     "spm", "si", "igshid", "yclid", "_hsenc", "_hsmi", "mkt_tok", "share", "from", "sid",
     "sessionid", "phpsessid", "jsessionid"}
)
# `source` is a tracking parameter only on Medium-like hosts.
MEDIUM_HOSTS = ("medium.com",)
HOST_ALIASES = {"x.com": "twitter.com", "mobile.twitter.com": "twitter.com",
                "m.youtube.com": "youtube.com", "music.youtube.com": "youtube.com",
                "old.reddit.com": "reddit.com", "m.reddit.com": "reddit.com",
                "new.reddit.com": "reddit.com", "np.reddit.com": "reddit.com",
                "m.facebook.com": "facebook.com", "mobile.x.com": "twitter.com"}
DEFAULT_PORTS = {"http": 80, "https": 443}
# GitHub top-level paths that are not user or organisation names.
GITHUB_RESERVED = frozenset(
    {"about", "apps", "blog", "collections", "contact", "customer-stories", "enterprise",
     "events", "explore", "features", "issues", "login", "marketplace", "new", "notifications",
     "orgs", "pricing", "pulls", "search", "settings", "sponsors", "topics", "trending", "site",
     "security", "readme", "codespaces", "signup", "join", "organizations", "users", "team",
     "stars", "watching", "dashboard", "discussions", "github-copilot", "mobile", "resources",
     "solutions", "home", "premium-support", "account"}
)
GITHUB_REPO_VIEWS = ("tree", "blob")
_README = re.compile(r"^readme(\.[a-z0-9]+)?$", re.IGNORECASE)
_GH_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def is_http_url(url: str) -> bool:
    """True when `url` is an http(s) URL that canonical_url() accepts."""
    try:
        canonical_url(url)
    except InvalidURL:
        return False
    return True


def _host(parts_host: str) -> str:
    host = parts_host.strip().rstrip(".").lower()
    if not host:
        raise InvalidURL("no host")
    if host.startswith("[") or re.fullmatch(r"[0-9.]+", host):
        return host
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        # Labels the idna codec refuses (too long, odd characters): keep them percent-safe.
        host = quote(host, safe=".-")
    if host.startswith("www.") and host.count(".") >= 2:
        host = host[4:]
    if host.startswith("www") and re.match(r"^www\d+\.", host) and host.count(".") >= 2:
        host = host.split(".", 1)[1]
    return HOST_ALIASES.get(host, host)


def _split(url: str) -> tuple[str, str, int | None, str, str]:
    if not isinstance(url, str):
        raise InvalidURL("not a string")
    url = url.strip()
    if not url:
        raise InvalidURL("empty URL")
    if any(ch in url for ch in "\\\r\n\t\x00"):
        raise InvalidURL("control character or backslash in URL")
    if url.startswith("//"):
        url = "https:" + url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidURL(f"scheme {scheme or '(none)'!r} is not http/https")
    if "@" in parts.netloc:
        raise InvalidURL("user-info in URL")
    host = _host(parts.hostname or "")
    if port == DEFAULT_PORTS[scheme]:
        port = None
    return scheme, host, port, parts.path, parts.query


def host_of(url: str) -> str:
    """The canonical host of `url` (lowercase, punycode, no `www.`)."""
    return _split(url)[1]


def _clean_path(path: str) -> str:
    # Normalise percent-encoding so `%7E` and `~` compare equal, keep reserved bytes quoted.
    path = quote(unquote(path), safe="/:@!$&'()*+,;=-._~%")
    path = re.sub(r"/{2,}", "/", path)
    segments: list[str] = []
    for seg in path.split("/"):
        if seg == "..":
            if segments:
                segments.pop()
        elif seg != ".":
            segments.append(seg)
    path = "/".join(segments)
    path = path.rstrip("/")
    return path


def _clean_query(host: str, query: str) -> str:
    medium = host.endswith(MEDIUM_HOSTS)
    kept = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        k = key.lower()
        if k.startswith("utm_") or k in TRACKING_PARAMS or (medium and k == "source"):
            continue
        kept.append((key, value))
    kept.sort()
    return urlencode(kept, quote_via=quote, safe="-._~")


def _github_path(segments: list[str]) -> str:
    owner, repo = segments[0], segments[1]
    if repo.endswith(".git"):
        repo = repo[:-4]
    rest = segments[2:]
    base = f"/{owner.lower()}/{repo.lower()}"
    if not rest:
        return base
    if rest[0] in GITHUB_REPO_VIEWS:
        # /tree/<branch>, /blob/<branch>/README.md and the like are the repository itself.
        tail = rest[2:]
        if not tail or (rest[0] == "blob" and len(tail) == 1 and _README.match(tail[0])):
            return base
        if rest[0] == "tree" and not tail:
            return base
    return base + "/" + "/".join(rest)


def canonical_url(url: str) -> str:
    """Return the one canonical spelling of `url`.

    Lowercases scheme and host, drops `www.`, default ports, fragments, tracking
    parameters and the trailing slash, sorts the query, converts IDN hosts to
    punycode, folds YouTube, x.com and GitHub repository variants. Raises InvalidURL
    for anything but http/https, for user-info and for hostless URLs.
    """
    scheme, host, port, path, query = _split(url)
    # Canonical form is https: the same page under http and https is one candidate.
    scheme = "https"
    path = _clean_path(path)
    query = _clean_query(host, query)

    if host in ("youtu.be", "youtube.com", "youtube-nocookie.com"):
        video = None
        if host == "youtu.be" and path.strip("/"):
            video = path.strip("/").split("/")[0]
        elif path in ("/watch", "") and query:
            video = dict(parse_qsl(query)).get("v")
        elif path.startswith(("/shorts/", "/embed/", "/live/", "/v/")):
            video = path.split("/")[2] if len(path.split("/")) > 2 else None
        if video:
            return f"https://youtube.com/watch?v={video}"
        host = "youtube.com"

    if host in ("github.com",):
        segments = [s for s in path.split("/") if s]
        if len(segments) >= 2 and segments[0].lower() not in GITHUB_RESERVED:
            path = _github_path(segments)
            query = ""
        elif len(segments) == 1:
            path = "/" + segments[0].lower()
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((scheme, netloc, path, query, ""))


def repo_key(url: str) -> str | None:
    """`github.com/owner/repo` for any GitHub link to a repository or below it, else None."""
    try:
        canon = canonical_url(url)
    except InvalidURL:
        return None
    parts = urlsplit(canon)
    if parts.hostname != "github.com":
        return None
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 2 or segments[0] in GITHUB_RESERVED:
        return None
    owner, repo = segments[0], segments[1]
    if not (_GH_NAME.match(owner) and _GH_NAME.match(repo)):
        return None
    return f"github.com/{owner}/{repo}"
