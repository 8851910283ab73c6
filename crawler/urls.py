"""URL identity: canonical_url(), repo_key() and project_key(), the one definition both
packages use.

The canonical form is a clickable, RFC 3986 URL: `https://host[:port]/path[?query]`.
It is a *key*, not a fetch target: the crawler fetches what the source gave; the store
de-duplicates on this.

Where it deliberately differs from the reference parse shipped with the datasets
(`picks.parquet`, `sightings-*.parquet`; there the key is written without `https://`):

- Percent-encoding is kept in paths (`/a%20b`, `/%E4%BD%A0`), with hex uppercased and
  unreserved characters decoded. The reference decodes everything (`/a b`), which is
  not a valid URL and merges `%2F` with `/`.
- Below `github.com/owner/repo` the path keeps its case: file paths in a repository are
  case-sensitive and the lowercased URL is a 404 (the reference lowercases the path).
  A bare `github.com/Owner` page is lowercased like the owner in a repository key:
  GitHub account names are case-insensitive.
- `old.`, `new.`, `np.`, `m.` and `i.reddit.com`, `en.m.wikipedia.org` and friends fold
  to the main host: the same thread or article (the reference keeps the mobile host).
- YouTube `/shorts/ID`, `/live/ID`, `/embed/ID` fold into `youtube.com/watch?v=ID`:
  the same video (the reference keeps `/live/` and `/shorts/`).
- Twitter/X share parameters `s` and `t` are dropped on twitter.com: they only say how
  the link was shared (the reference keeps them).
- URLs with a backslash (F26 parser differential) or a `%` in the host are rejected;
  the reference keeps one of each (markdown debris: `S2949-7612\\(23\\`,
  `read.engineerscode%2A%2A`).
- Google Analytics linker parameters (`_ga`, `_gl`) are tracking and dropped.
- Not followed from the reference: `www3.` / `www150.` prefixes are kept (other hosts),
  as are `from=` and short `sid=` values (they select content on some sites).
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "InvalidURL",
    "ascii_url",
    "canonical_url",
    "host_of",
    "is_http_url",
    "project_key",
    "repo_key",
    "repo_owner",
]


class InvalidURL(ValueError):
    """The string is not an http(s) URL we accept (scheme, user-info, host, characters)."""


# Query parameters that only track the visitor; removed on every host (utm_* too).
TRACKING_PARAMS = frozenset(
    {
        # from the issue
        "ref",
        "ref_src",
        "fbclid",
        "gclid",
        "mc_cid",
        "mc_eid",
        "spm",
        "si",
        "igshid",
        # other click identifiers of ad and mail platforms: never part of the page
        "ref_url",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "_ga",  # Google Analytics cross-domain linker
        "_gl",
    }
)
# Session parameters (F22) are dropped only when the value looks like a random token:
# `?sid=4284184` on bilibili or `?SessionId=112` on ilga.gov select content.
SESSION_PARAMS = frozenset({"sid", "sessionid", "session_id", "phpsessid", "jsessionid"})
_SESSION_TOKEN = re.compile(r"^(?=.*[A-Za-z])(?=.*\d)[A-Za-z0-9_-]{16,}$")
# `source` is a tracking parameter only on Medium-like hosts (Medium and the custom
# domains of big Medium publications). Elsewhere it is often content (`?source=all`).
MEDIUM_HOSTS = (
    "medium.com",
    "towardsdatascience.com",
    "betterprogramming.pub",
    "levelup.gitconnected.com",
    "plainenglish.io",
    "towardsai.net",
    "blog.devgenius.io",
    "itnext.io",
    "proandroiddev.com",
    "uxdesign.cc",
    "betterhumans.pub",
    "codeburst.io",
)
# Medium appends `?source=rss----…`, `post_page-----…`, `friends_link` on its custom
# domains too; a value of this shape marks the host as Medium-like.
_MEDIUM_SOURCE = re.compile(r"-{3,}|^(rss|post_page|friends_link|user_profile|collection_)")
# The `amp` flag (`?amp`, `?amp=1`) selects the AMP rendering of the same page.
_AMP_FLAG_VALUES = frozenset({"", "1", "true"})

HOST_ALIASES = {
    "x.com": "twitter.com",
    "mobile.twitter.com": "twitter.com",
    "mobile.x.com": "twitter.com",
    # embed-fixing proxies show the same tweet
    "fxtwitter.com": "twitter.com",
    "vxtwitter.com": "twitter.com",
    "fixupx.com": "twitter.com",
    "fixvx.com": "twitter.com",
    "m.youtube.com": "youtube.com",
    "music.youtube.com": "youtube.com",
    "youtube-nocookie.com": "youtube.com",
    "old.reddit.com": "reddit.com",
    "new.reddit.com": "reddit.com",
    "np.reddit.com": "reddit.com",
    "m.reddit.com": "reddit.com",
    "i.reddit.com": "reddit.com",
    "m.facebook.com": "facebook.com",
}
# `en.m.wikipedia.org` -> `en.wikipedia.org` (and the sister projects).
_WIKI_MOBILE = re.compile(
    r"^([a-z0-9-]+)\.m\.(wikipedia|wiktionary|wikibooks|wikiquote|wikivoyage|wikimedia)\.org$"
)
TWITTER_SHARE_PARAMS = frozenset({"s", "t"})
DEFAULT_PORTS = {"http": 80, "https": 443}

# GitHub top-level paths that are not user or organisation names.
GITHUB_RESERVED = frozenset(
    {
        "about",
        "account",
        "advisories",
        "apps",
        "blog",
        "codespaces",
        "collections",
        "contact",
        "copilot",
        "customer-stories",
        "dashboard",
        "discussions",
        "education",
        "enterprise",
        "events",
        "explore",
        "features",
        "git-guides",
        "github-copilot",
        "home",
        "issues",
        "join",
        "login",
        "marketplace",
        "mcp",
        "mobile",
        "new",
        "newsroom",
        "notifications",
        "organizations",
        "orgs",
        "partners",
        "premium-support",
        "pricing",
        "pulls",
        "readme",
        "resources",
        "search",
        "security",
        "settings",
        "signup",
        "site",
        "solutions",
        "sponsors",
        "stars",
        "team",
        "topics",
        "trending",
        "user-attachments",
        "users",
        "watching",
        "why-github",
    }
)
# One thread of a repository (an issue, a pull request, a discussion, a wiki page) is an
# item of its own: a Hacker News link to CPython's JIT pull request is news about that
# change, not the CPython project (the archive files such links as articles and
# discussions), and one featured issue must not mark the whole repository as featured.
GITHUB_THREADS = frozenset({"issues", "pull", "discussions", "wiki"})
# A README at the root of a branch is the repository page: README, README.md,
# README_zh.md, README-en.MD, readme.rst …
_README = re.compile(r"^readme([._-][A-Za-z0-9._-]*)?$", re.IGNORECASE)
_GH_NAME = re.compile(r"^[a-z0-9_.-]+$")
_YT_ID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
_GOOGLE_HOST = re.compile(r"^google\.[a-z]{2,3}(\.[a-z]{2})?$")
_HOST_OK = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")

# RFC 3986 character classes. Escapes of these characters are decoded in paths: a
# server reads `%7E` and `~`, `%28` and `(` alike. `/ ? # %` stay escaped: decoding
# them would change the structure of the URL.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE = _UNRESERVED | frozenset("!$&'()*+,;=:@")
_HEX = frozenset("0123456789abcdefABCDEF")
_PLAIN_PATH = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")
# C0 controls, DEL, C1 controls, backslash (F26) and Unicode line/bidi/zero-width
# characters that make one string parse differently in different parsers.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\\\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def is_http_url(url: object) -> bool:
    """True when `url` is an http(s) URL that canonical_url() accepts."""
    try:
        canonical_url(url)  # type: ignore[arg-type]
    except InvalidURL:
        return False
    return True


def _host(raw: str) -> str:
    """Lowercase, punycode, no `www.`; IP literals normalised; aliases applied."""
    host = raw.lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        if "%" in host:
            raise InvalidURL(f"IPv6 zone id in host {raw!r}")  # local-only, never a page key
        try:
            ip = ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidURL(f"bad IPv6 host {raw!r}") from None
        return f"[{ip.compressed}]"
    host = host.rstrip(".")
    if not host:
        raise InvalidURL("no host")
    if "%" in host:
        # WHATWG decodes `%` in hosts, urlsplit does not: a parser differential.
        raise InvalidURL(f"percent-encoded host {raw!r}")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidURL(f"host {raw!r} is not a valid IDN") from None
    if not _HOST_OK.match(host) or any(len(label) > 63 for label in host.split(".")):
        raise InvalidURL(f"bad host {raw!r}")
    for label in host.split("."):
        if label.startswith("xn--"):
            try:
                label.encode("ascii").decode("idna")
            except UnicodeError:
                raise InvalidURL(f"bad punycode label in host {raw!r}") from None
    # Only `www.` itself: `www3.nhk.or.jp` or `www150.statcan.gc.ca` may be other hosts.
    while host.startswith("www.") and host.count(".") >= 2:
        host = host[4:]
    wiki = _WIKI_MOBILE.match(host)
    if wiki:
        host = f"{wiki.group(1)}.{wiki.group(2)}.org"
    return HOST_ALIASES.get(host, host)


# Longer URLs are traps (generated calendars, session blobs) and break spreadsheets.
MAX_URL_LENGTH = 2083


def _split(url: object) -> tuple[str, str, int | None, str, str]:
    if not isinstance(url, str):
        raise InvalidURL("not a string")
    url = url.strip()
    if not url:
        raise InvalidURL("empty URL")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidURL(f"URL longer than {MAX_URL_LENGTH} characters")
    if _FORBIDDEN.search(url):
        raise InvalidURL("control character, invisible character or backslash in URL")
    if not url.isascii():
        try:
            url.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidURL("lone surrogate in URL") from None
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
    netloc = parts.netloc
    if "@" in netloc:
        raise InvalidURL("user-info in URL")
    if not netloc:
        raise InvalidURL("no host")
    hostport = netloc
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise InvalidURL("unclosed IPv6 bracket")
        raw_host = hostport[: end + 1]
        if not re.fullmatch(r"(:\d*)?", hostport[end + 1 :]):
            raise InvalidURL("garbage after IPv6 host")
    else:
        raw_host = hostport.rsplit(":", 1)[0] if ":" in hostport else hostport
    host = _host(raw_host)
    # The canonical scheme is https, so 443 is dropped too: `http://h:443` must give the
    # same key as its own canonical form (idempotence).
    if port in (DEFAULT_PORTS[scheme], 443):
        port = None
    return scheme, host, port, parts.path, parts.query


# Scripts whose letters look alike: a label mixing two of them is a homoglyph (F25).
_CONFUSABLE_SCRIPTS = frozenset({"LATIN", "CYRILLIC", "GREEK"})


def ascii_url(url: str) -> tuple[str, list[str]]:
    """`url` with an internationalized host spelled in punycode, and the host's flags:
    `idn`, plus `mixed_script` when a label mixes Latin, Cyrillic or Greek letters
    (`pаypal.com` with a Cyrillic а reads `xn--pypal-4ve.com`). ASCII hosts: unchanged."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host.isascii():
        return url, []
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return url, []
    flags = ["idn"]
    for label in host.split("."):
        scripts = {unicodedata.name(ch, "").partition(" ")[0] for ch in label if ch.isalpha()}
        if len(scripts & _CONFUSABLE_SCRIPTS) > 1:
            flags.append("mixed_script")
            break
    userinfo, at, hostport = parts.netloc.rpartition("@")
    port = hostport[len(hostport.partition(":")[0]) :]
    netloc = f"{userinfo}{at}{ascii_host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), flags


def host_of(url: str) -> str:
    """The canonical host of `url` (lowercase, punycode, no `www.`, aliases folded)."""
    return _split(url)[1]


def _normalise_escapes(text: str, safe: frozenset[str]) -> str:
    """Decode escapes of `safe` characters, uppercase the others, escape the rest."""
    if safe is _PATH_SAFE and _PLAIN_PATH.fullmatch(text):
        return text  # the common case: nothing to decode or escape
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "%":
            if i + 2 < n and text[i + 1] in _HEX and text[i + 2] in _HEX:
                decoded = chr(int(text[i + 1 : i + 3], 16))
                out.append(decoded if decoded in safe else "%" + text[i + 1 : i + 3].upper())
                i += 3
                continue
            out.append("%25")  # a stray `%` is a literal percent sign
        elif ch in safe or ch == "/":
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


def _clean_path(path: str) -> str:
    path = _normalise_escapes(path, _PATH_SAFE)
    segments: list[str] = []
    for seg in path.split("/"):
        # `;jsessionid=…` path parameters (Java servlets) are session state, not content.
        seg = re.sub(r";jsessionid=[^/;]*", "", seg, flags=re.IGNORECASE)
        if seg in ("", "."):
            continue  # also collapses `//` and drops the trailing slash
        if seg == "..":
            if segments:
                segments.pop()
            continue
        segments.append(seg)
    return "/" + "/".join(segments) if segments else ""


def _on_host(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def _lower(text: str) -> str:
    """Lowercase, keeping percent-escapes in their canonical uppercase hex."""
    return re.sub(r"%[0-9a-f]{2}", lambda m: m.group().upper(), text.lower())


def _query_pairs(host: str, query: str) -> list[tuple[str, str]]:
    # surrogateescape keeps non-UTF-8 bytes (`%E9` in a latin-1 query) intact.
    pairs = parse_qsl(query, keep_blank_values=True, errors="surrogateescape")
    medium = _on_host(host, MEDIUM_HOSTS) or host.startswith("medium.")
    twitter = host == "twitter.com"
    kept = []
    for key, value in pairs:
        k = key.lower()
        if k.startswith("utm_") or k in TRACKING_PARAMS:
            continue
        if k == "source" and (medium or _MEDIUM_SOURCE.search(value)):
            continue
        if k in SESSION_PARAMS and _SESSION_TOKEN.match(value):
            continue
        if k == "amp" and value.lower() in _AMP_FLAG_VALUES:
            continue
        if twitter and k in TWITTER_SHARE_PARAMS:
            continue
        kept.append((key, value))
    kept.sort()
    return kept


def _encode_query(pairs: list[tuple[str, str]]) -> str:
    # application/x-www-form-urlencoded: spaces as `+`, as the reference and browsers do.
    return urlencode(pairs, errors="surrogateescape")


def _github(path: str, query: str) -> tuple[str, str]:
    segments = path.split("/")[1:] if path else []
    if not segments:
        return path, query
    if segments[0].lower() in GITHUB_RESERVED:
        return path, query
    if len(segments) == 1:
        return "/" + _lower(segments[0]), query
    owner, repo, rest = _lower(segments[0]), _lower(segments[1]), segments[2:]
    repo = re.sub(r"(\.git)+$", "", repo) or repo
    base = f"/{owner}/{repo}"
    if not rest:
        # `?tab=readme-ov-file` and friends select a view of the repository page.
        return base, ""
    if rest[0] in ("tree", "blob"):
        tail = rest[2:]  # rest[1] is the branch, tag or commit
        if not tail or (len(tail) == 1 and _README.match(tail[0])):
            return base, ""
    return base + "/" + "/".join(rest), query


def _youtube_video(host: str, path: str, pairs: list[tuple[str, str]]) -> str | None:
    segments = path.split("/")[1:] if path else []
    if host == "youtu.be":
        video = segments[0] if segments else None
    elif path == "/watch":
        video = dict(pairs).get("v")
    elif len(segments) >= 2 and segments[0] in ("shorts", "embed", "live", "v"):
        video = segments[1]
    else:
        video = None
    return video if video and _YT_ID.match(video) else None


def _unwrap_amp(host: str, path: str, query: str) -> str | None:
    """The publisher URL inside a Google AMP viewer or AMP cache URL, else None."""
    if _GOOGLE_HOST.match(host) and path.startswith("/amp/"):
        inner = path[len("/amp/") :]
    elif host.endswith(".cdn.ampproject.org") and path[:3] in ("/c/", "/v/", "/i/"):
        inner = path[3:]
    else:
        return None
    inner = inner.removeprefix("s/")  # `s/` marks https; the key is https anyway
    if "." not in inner.split("/", 1)[0]:
        return None
    return "https://" + inner + ("?" + query if query else "")


def canonical_url(url: str) -> str:
    """Return the one canonical spelling of `url`.

    Lowercases scheme and host, drops `www.`, default ports, fragments, tracking
    parameters and the trailing slash, sorts the query, converts IDN hosts to
    punycode, folds YouTube, x.com and GitHub repository variants; always `https://`.
    Raises InvalidURL for anything but http/https, for user-info, for hostless URLs and
    for control characters or backslashes.
    """
    if not isinstance(url, str):
        raise InvalidURL("not a string")
    # A str subclass (lxml's "smart" strings) would keep its whole document alive as a key.
    return _canonical(url if type(url) is str else str(url))


# A parser, the flood guard and the pipeline each ask for the same URL's key within a few
# milliseconds: a small cache is enough. InvalidURL is raised again each time, never cached.
@functools.lru_cache(maxsize=16384)
def _canonical(url: str) -> str:
    _scheme, host, port, raw_path, raw_query = _split(url)
    path = _clean_path(raw_path)

    inner = _unwrap_amp(host, path, raw_query)
    if inner is not None:
        return canonical_url(inner)

    pairs = _query_pairs(host, raw_query)

    if host in ("youtu.be", "youtube.com"):
        video = _youtube_video(host, path, pairs)
        if video:
            return f"https://youtube.com/watch?v={video}"

    query = _encode_query(pairs)
    if host == "github.com":
        path, query = _github(path, query)

    netloc = host if port is None else f"{host}:{port}"
    return f"https://{netloc}{path}" + (f"?{query}" if query else "")


def repo_key(url: str) -> str | None:
    """`github.com/owner/repo` for any GitHub link to a repository or below it, else None."""
    key, _thread = _repo_of(url)
    return key


def project_key(url: str) -> str | None:
    """The repository a link stands for as an item: `repo_key`, but None for a link to one
    of its threads (`/issues/12`, `/pull/34`, `/discussions/5`, `/wiki/Page`:
    GITHUB_THREADS), which is an item of its own (news about a change), not the project."""
    key, thread = _repo_of(url)
    return None if thread else key


def repo_owner(key: object) -> str | None:
    """`github.com/owner` of a `repo_key` (`github.com/owner/repo`), else None: a repository's
    "domain", since every project would otherwise share github.com. ranking.store's
    _DOMAIN_SQL is the same rule in SQL."""
    if not isinstance(key, str) or key.count("/") < 2:
        return None
    return "/".join(key.split("/")[:2])


def _repo_of(url: str) -> tuple[str | None, bool]:
    """(`repo_key`, whether the link is to one of the repository's threads)."""
    try:
        canon = canonical_url(url)
    except InvalidURL:
        return None, False
    rest = canon.removeprefix("https://")
    host, _, path = rest.partition("/")
    if host != "github.com":
        return None, False
    segments = path.split("?", 1)[0].split("/")
    if len(segments) < 2 or segments[0] in GITHUB_RESERVED:
        return None, False
    owner, repo = segments[0].lower(), segments[1].lower()
    if not (_GH_NAME.match(owner) and _GH_NAME.match(repo)):
        return None, False
    thread = len(segments) > 3 and segments[2].lower() in GITHUB_THREADS and bool(segments[3])
    return f"github.com/{owner}/{repo}", thread
