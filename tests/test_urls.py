"""canonical_url() / repo_key(): explicit cases, properties, and agreement with the reference."""

from __future__ import annotations

import math
import string
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crawler.urls import (
    InvalidURL,
    ascii_url,
    canonical_url,
    host_of,
    is_http_url,
    project_key,
    repo_key,
    repo_owner,
)

if TYPE_CHECKING:
    import pandas as pd  # imported at run time only by the `shared` tests

# Deterministic and quick: the same examples on every run and every machine.
PROPERTY = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

CANONICAL = [
    # scheme and host case, www, trailing slash, trailing dot
    ("https://example.com/", "https://example.com"),
    ("http://example.com", "https://example.com"),
    ("HTTP://EXAMPLE.COM/", "https://example.com"),
    ("https://WWW.Example.Com/Path/", "https://example.com/Path"),
    ("https://www.example.com/a/b/", "https://example.com/a/b"),
    ("https://example.com./a", "https://example.com/a"),
    ("https://www.com/", "https://www.com"),
    ("https://www.www.example.com/", "https://example.com"),
    # `www3.` and `www150.` can be other hosts: kept, as the reference does
    ("https://www3.nhk.or.jp/news/", "https://www3.nhk.or.jp/news"),
    ("https://www150.statcan.gc.ca/t1/", "https://www150.statcan.gc.ca/t1"),
    ("https://blog.example.com/Post/", "https://blog.example.com/Post"),
    ("//example.com/a", "https://example.com/a"),
    ("  https://example.com/a  ", "https://example.com/a"),
    # ports
    ("http://example.com:80/a", "https://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("http://example.com:443/", "https://example.com"),
    ("https://example.com:8443/a", "https://example.com:8443/a"),
    ("http://example.com:8080/", "https://example.com:8080"),
    ("https://example.com:80/", "https://example.com:80"),
    ("https://example.com:/a", "https://example.com/a"),
    # IP literals
    ("http://127.0.0.1:8000/x/", "https://127.0.0.1:8000/x"),
    ("http://192.168.1.1/", "https://192.168.1.1"),
    ("http://[::1]/", "https://[::1]"),
    ("http://[::1]:8080/a/", "https://[::1]:8080/a"),
    ("https://[2001:DB8:0:0:0:0:0:1]/", "https://[2001:db8::1]"),
    ("https://[2001:db8::1]:443/p", "https://[2001:db8::1]/p"),
    # fragments
    ("https://example.com/a#section", "https://example.com/a"),
    ("https://example.com/#", "https://example.com"),
    ("https://example.com/a?b=1#c", "https://example.com/a?b=1"),
    ("https://example.com/#!/route", "https://example.com"),
    # tracking parameters
    ("https://example.com/a?utm_source=x&utm_medium=y&utm_campaign=z", "https://example.com/a"),
    ("https://example.com/a?UTM_Source=x&id=3", "https://example.com/a?id=3"),
    ("https://example.com/a?utm_term=&utm_content=1", "https://example.com/a"),
    ("https://example.com/a?ref=hn", "https://example.com/a"),
    ("https://example.com/a?ref_src=twsrc%5Etfw", "https://example.com/a"),
    ("https://example.com/a?fbclid=IwAR0abc", "https://example.com/a"),
    ("https://example.com/a?gclid=Cj0KCQ&x=1", "https://example.com/a?x=1"),
    ("https://example.com/a?mc_cid=1&mc_eid=2", "https://example.com/a"),
    ("https://example.com/a?spm=a2c6h.12873639", "https://example.com/a"),
    ("https://open.spotify.com/track/1?si=abc", "https://open.spotify.com/track/1"),
    ("https://instagram.com/p/xyz/?igshid=MzRl", "https://instagram.com/p/xyz"),
    ("https://example.com/a?msclkid=1&_hsenc=2&_gl=3", "https://example.com/a"),
    ("https://example.com/?page=2&utm_source=rss", "https://example.com?page=2"),
    # `from` and short `sid` values select content (aeaweb, bilibili): kept
    ("https://aeaweb.org/articles?id=1&from=f", "https://aeaweb.org/articles?from=f&id=1"),
    ("https://space.bilibili.com/1/c?sid=4284184", "https://space.bilibili.com/1/c?sid=4284184"),
    # session tokens (F22) are dropped
    ("https://example.com/a?sid=0f3a9c2b7d1e4f5a6b7c&b=1", "https://example.com/a?b=1"),
    ("https://example.com/a?PHPSESSID=a1b2c3d4e5f6a7b8c9d0", "https://example.com/a"),
    ("https://example.com/a;jsessionid=0AB12CD34?x=1", "https://example.com/a?x=1"),
    # `source` only on Medium-like hosts (or with Medium's own value shapes)
    ("https://medium.com/@a/post-1a2b?source=rss----abc---4", "https://medium.com/@a/post-1a2b"),
    ("https://user.medium.com/post-1a2b?source=friends_link", "https://user.medium.com/post-1a2b"),
    (
        "https://towardsdatascience.com/x-1?source=collection_home",
        "https://towardsdatascience.com/x-1",
    ),
    ("https://ai.plainenglish.io/x?source=anything", "https://ai.plainenglish.io/x"),
    ("https://blog.example.com/x?source=rss----5517fd7b58a6---4", "https://blog.example.com/x"),
    ("https://nango.dev/?source=hn-nov-2023", "https://nango.dev?source=hn-nov-2023"),
    ("https://example.com/search?source=all&q=1", "https://example.com/search?q=1&source=all"),
    ("https://notmedium.com/x?source=hn", "https://notmedium.com/x?source=hn"),
    # query sorting and encoding (form-encoding: spaces as `+`, like the reference)
    ("https://example.com/?b=2&a=1", "https://example.com?a=1&b=2"),
    ("https://example.com/?b=2&a=2&a=1", "https://example.com?a=1&a=2&b=2"),
    ("https://example.com/?q=a+b", "https://example.com?q=a+b"),
    ("https://example.com/?q=a%20b", "https://example.com?q=a+b"),
    ("https://example.com/?q=caf%C3%A9", "https://example.com?q=caf%C3%A9"),
    ("https://example.com/?q=café", "https://example.com?q=caf%C3%A9"),
    ("https://example.com/?q=caf%E9", "https://example.com?q=caf%E9"),
    (
        "https://example.com/?url=https://a.test/b",
        "https://example.com?url=https%3A%2F%2Fa.test%2Fb",
    ),
    ("https://example.com/?flag", "https://example.com?flag="),
    ("https://example.com/?", "https://example.com"),
    ("https://example.com/?&&", "https://example.com"),
    # percent-encoding in paths: hex uppercased, unreserved decoded, the rest kept
    ("https://example.com/%7euser", "https://example.com/~user"),
    ("https://example.com/%41%42c", "https://example.com/ABc"),
    ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
    ("https://example.com/%e4%bd%a0%e5%a5%bd", "https://example.com/%E4%BD%A0%E5%A5%BD"),
    ("https://example.com/你好", "https://example.com/%E4%BD%A0%E5%A5%BD"),
    ("https://example.com/a b", "https://example.com/a%20b"),
    ("https://example.com/100%", "https://example.com/100%25"),
    ("https://example.com/%zz", "https://example.com/%25zz"),
    ("https://example.com/How-to-%28and%29", "https://example.com/How-to-(and)"),
    ("https://example.com/%5BMS%5D.pdf", "https://example.com/%5BMS%5D.pdf"),
    ("https://example.com/[MS].pdf", "https://example.com/%5BMS%5D.pdf"),
    # dot segments and duplicate slashes
    ("https://example.com/a/./b/../c/", "https://example.com/a/c"),
    ("https://example.com/../../a", "https://example.com/a"),
    ("https://example.com/a//b///c", "https://example.com/a/b/c"),
    ("https://example.com/%2E%2E/a", "https://example.com/a"),
    # IDN and homoglyph hosts (F25) -> punycode
    ("https://pаypal.com/", "https://xn--pypal-4ve.com"),
    ("https://bücher.de/straße", "https://xn--bcher-kva.de/stra%C3%9Fe"),
    ("https://BÜCHER.de/", "https://xn--bcher-kva.de"),
    ("https://例え.jp/", "https://xn--r8jz45g.jp"),
    ("https://xn--bcher-kva.de/", "https://xn--bcher-kva.de"),
    ("https://www.例え.jp/", "https://xn--r8jz45g.jp"),
    # YouTube: one form for one video
    ("https://youtu.be/dQw4w9WgXcQ", "https://youtube.com/watch?v=dQw4w9WgXcQ"),
    ("https://youtu.be/dQw4w9WgXcQ?si=abc&t=42", "https://youtube.com/watch?v=dQw4w9WgXcQ"),
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "https://youtube.com/watch?v=dQw4w9WgXcQ"),
    (
        "https://www.youtube.com/watch?feature=share&v=dQw4w9WgXcQ&list=PL1&index=2",
        "https://youtube.com/watch?v=dQw4w9WgXcQ",
    ),
    ("http://m.youtube.com/watch?v=dQw4w9WgXcQ#t=1", "https://youtube.com/watch?v=dQw4w9WgXcQ"),
    ("https://music.youtube.com/watch?v=dQw4w9WgXcQ", "https://youtube.com/watch?v=dQw4w9WgXcQ"),
    ("https://www.youtube.com/embed/dQw4w9WgXcQ", "https://youtube.com/watch?v=dQw4w9WgXcQ"),
    (
        "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
        "https://youtube.com/watch?v=dQw4w9WgXcQ",
    ),
    ("https://www.youtube.com/shorts/fLEOiQdDkzk", "https://youtube.com/watch?v=fLEOiQdDkzk"),
    ("https://www.youtube.com/live/GPwYSf1t8Lw?si=x", "https://youtube.com/watch?v=GPwYSf1t8Lw"),
    ("https://www.youtube.com/@PyCascades/videos/", "https://youtube.com/@PyCascades/videos"),
    ("https://m.youtube.com/playlist?list=PLabc&si=x", "https://youtube.com/playlist?list=PLabc"),
    ("https://www.youtube.com/watch", "https://youtube.com/watch"),
    # Twitter / X
    ("https://x.com/user/status/1", "https://twitter.com/user/status/1"),
    ("https://www.x.com/user/status/1", "https://twitter.com/user/status/1"),
    ("https://mobile.twitter.com/user/status/1", "https://twitter.com/user/status/1"),
    ("https://twitter.com/user/status/1?s=46&t=FFxX", "https://twitter.com/user/status/1"),
    ("https://fxtwitter.com/user/status/1", "https://twitter.com/user/status/1"),
    ("https://x.com/user/status/1?ref_src=twsrc", "https://twitter.com/user/status/1"),
    # mobile variants where the page is the same
    (
        "https://old.reddit.com/r/Python/comments/abc/x/",
        "https://reddit.com/r/Python/comments/abc/x",
    ),
    ("https://np.reddit.com/r/Python/", "https://reddit.com/r/Python"),
    ("https://www.reddit.com/r/Python/", "https://reddit.com/r/Python"),
    ("https://en.m.wikipedia.org/wiki/Python", "https://en.wikipedia.org/wiki/Python"),
    ("https://m.facebook.com/story", "https://facebook.com/story"),
    # `m.` in general is not folded: `m.post.naver.com` is its own site
    ("https://m.post.naver.com/viewer", "https://m.post.naver.com/viewer"),
    # AMP: Google's viewer and cache wrap the publisher URL; `?amp=1` is a rendering flag
    ("https://www.google.com/amp/s/example.com/news/story", "https://example.com/news/story"),
    ("https://www.google.co.uk/amp/s/www.example.com/a/", "https://example.com/a"),
    ("https://example-com.cdn.ampproject.org/c/s/example.com/a?x=1", "https://example.com/a?x=1"),
    ("https://example.com/story?amp=1", "https://example.com/story"),
    ("https://example.com/story?amp", "https://example.com/story"),
    ("https://example.com/story?amp=top", "https://example.com/story?amp=top"),
    # an `/amp` path or an `amp.` host is not folded: a repository, a package, a site
    ("https://github.com/someuser/amp", "https://github.com/someuser/amp"),
    ("https://pypi.org/project/amp/", "https://pypi.org/project/amp"),
    ("https://amp.readthedocs.io/en/latest/", "https://amp.readthedocs.io/en/latest"),
    # GitHub repositories: one form
    ("https://github.com/Owner/Repo", "https://github.com/owner/repo"),
    ("https://www.github.com/Owner/Repo/", "https://github.com/owner/repo"),
    ("http://github.com/owner/repo.git", "https://github.com/owner/repo"),
    ("https://github.com/owner/repo#readme", "https://github.com/owner/repo"),
    ("https://github.com/owner/repo?tab=readme-ov-file", "https://github.com/owner/repo"),
    ("https://github.com/owner/repo/tree/main", "https://github.com/owner/repo"),
    ("https://github.com/owner/repo/tree/v1.2.3/", "https://github.com/owner/repo"),
    ("https://github.com/owner/repo/blob/main/README.md", "https://github.com/owner/repo"),
    ("https://github.com/owner/repo/blob/master/readme.rst", "https://github.com/owner/repo"),
    ("https://github.com/owner/repo/blob/master/README_zh.md", "https://github.com/owner/repo"),
    ("https://github.com/owner/repo/blob/main/README", "https://github.com/owner/repo"),
    # deeper GitHub paths keep their path, and its case (file paths are case-sensitive)
    ("https://github.com/Owner/Repo/issues/12", "https://github.com/owner/repo/issues/12"),
    ("https://github.com/owner/repo/pull/7/files", "https://github.com/owner/repo/pull/7/files"),
    (
        "https://github.com/owner/repo/releases/tag/v1.0",
        "https://github.com/owner/repo/releases/tag/v1.0",
    ),
    (
        "https://github.com/owner/repo/blob/main/docs/README.md",
        "https://github.com/owner/repo/blob/main/docs/README.md",
    ),
    (
        "https://github.com/owner/repo/blob/main/src/Main.py#L10",
        "https://github.com/owner/repo/blob/main/src/Main.py",
    ),
    (
        "https://github.com/owner/repo/tree/main/examples",
        "https://github.com/owner/repo/tree/main/examples",
    ),
    (
        "https://github.com/owner/repo/wiki/Home-Page",
        "https://github.com/owner/repo/wiki/Home-Page",
    ),
    (
        "https://github.com/owner/repo/issues?q=is%3Aopen+label%3Abug",
        "https://github.com/owner/repo/issues?q=is%3Aopen+label%3Abug",
    ),
    # GitHub pages that are not repositories
    ("https://github.com/OpenIPC", "https://github.com/openipc"),
    ("https://github.com/features/copilot", "https://github.com/features/copilot"),
    ("https://github.com/topics/python", "https://github.com/topics/python"),
    (
        "https://github.com/orgs/community/discussions/1",
        "https://github.com/orgs/community/discussions/1",
    ),
    ("https://gist.github.com/simonw/8aa4", "https://gist.github.com/simonw/8aa4"),
    ("https://github.com/", "https://github.com"),
]

REPO_KEYS = [
    ("https://github.com/Owner/Repo", "github.com/owner/repo"),
    ("http://www.github.com/owner/repo.git", "github.com/owner/repo"),
    ("https://github.com/owner/repo/tree/main/sub/dir", "github.com/owner/repo"),
    ("https://github.com/owner/repo/blob/main/README.md#readme", "github.com/owner/repo"),
    ("https://github.com/owner/repo/issues", "github.com/owner/repo"),
    ("https://github.com/owner/repo/pulls", "github.com/owner/repo"),
    ("https://github.com/owner/repo/wiki", "github.com/owner/repo"),
    # a thread is below the repository (project_key: an item of its own)
    ("https://github.com/owner/repo/issues/1", "github.com/owner/repo"),
    ("https://github.com/owner/repo/pull/113465/files", "github.com/owner/repo"),
    ("https://github.com/owner/repo/discussions/6#discussioncomment-1", "github.com/owner/repo"),
    ("https://github.com/owner/repo/wiki/How-to-design-APIs", "github.com/owner/repo"),
    ("https://github.com/owner/repo/releases", "github.com/owner/repo"),
    ("https://github.com/owner/Repo.Name_2/actions", "github.com/owner/repo.name_2"),
    ("https://github.com/owner/repo?utm_source=x", "github.com/owner/repo"),
    ("https://github.com/owner", None),
    ("https://github.com/", None),
    ("https://github.com/features/copilot", None),
    ("https://github.com/sponsors/someone", None),
    ("https://github.com/marketplace/actions/checkout", None),
    # GitHub's own pages below a reserved name: two attachments are not one repository
    ("https://github.com/advisories/GHSA-9wx4-h78v-vm56", None),
    ("https://github.com/user-attachments/assets/aaaa-1111", None),
    ("https://github.com/copilot/agents", None),
    ("https://github.com/orgs/community/discussions/1", None),
    ("https://github.com/readme/featured/x", None),
    ("https://github.com/topics/python", None),
    ("https://gist.github.com/user/abc", None),
    ("https://owner.github.io/repo/", None),
    ("https://gitlab.com/owner/repo", None),
    ("https://example.com/github.com/owner/repo", None),
    ("ftp://github.com/owner/repo", None),
    ("not a url", None),
    ("", None),
]

INVALID = [
    "",
    "   ",
    "example.com/a",
    "www.example.com",
    "/relative/path",
    "ftp://example.com/file",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "data:text/html,<script>x</script>",
    "mailto:a@example.com",
    "https://",
    "http:///path",
    "http:example.com",
    # user-info and parser differentials (F26)
    "http://user@example.com/",
    "http://user:pw@example.com/",
    "http://good.test@evil.test/",
    "http://evil.test\\@good.test/",
    "http://example.com%2F@evil.test/",
    "http://user:pw@evil.test@good.test/",
    "https://example.com\\.evil.test/",
    # control and invisible characters
    "http://example.com/\x00",
    "http://exa\tmple.com/",
    "http://example.com/a\nb",
    "http://example.com/\x7f",
    "http://example.com/\u202eevil",
    "http://exam\u200bple.com/",
    "http://example.com/\ud800",
    # bad hosts and ports
    "http://exa mple.com/",
    "http://a..b/",
    "http://.example.com/",
    "http://ex%61mple.com/",
    "http://xn--/",
    "http://" + "a" * 64 + ".com/",
    "http://example.com:99999/",
    "http://example.com:port/",
    "http://[::1/",
    "http://[not-ipv6]/",
    "http://[::1]x/",
    "http://[fe80::1%25eth0]/",
]


@pytest.mark.parametrize(("url", "expected"), CANONICAL)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(("url", "expected"), CANONICAL)
def test_canonical_url_is_a_fixed_point(url: str, expected: str) -> None:
    assert canonical_url(expected) == expected


@pytest.mark.parametrize(("url", "expected"), REPO_KEYS)
def test_repo_key(url: str, expected: str | None) -> None:
    assert repo_key(url) == expected


REPO_OWNERS = [
    ("github.com/astral-sh/ruff", "github.com/astral-sh"),
    ("github.com/a/b", "github.com/a"),
    ("github.com/astral-sh", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("key", "expected"), REPO_OWNERS)
def test_repo_owner(key: str | None, expected: str | None) -> None:
    assert repo_owner(key) == expected


def test_the_stores_sql_domain_is_repo_owner_or_the_host() -> None:
    import duckdb

    from ranking.store import _DOMAIN_SQL

    keys = [k for k, _ in REPO_OWNERS]  # malformed keys too: the host, as repo_owner says
    con = duckdb.connect()
    con.execute("CREATE TABLE t (repo_key VARCHAR, host VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, 'github.com')", [[k] for k in keys])
    got = con.execute(f"SELECT repo_key, {_DOMAIN_SQL.format(t='t')} FROM t").fetchall()
    assert got == [(k, repo_owner(k) or "github.com") for k in keys]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/owner/repo/issues/1", None),
        ("https://github.com/owner/repo/pull/113465/files", None),
        ("https://github.com/owner/repo/discussions/6#discussioncomment-1", None),
        ("https://github.com/owner/repo/wiki/How-to-design-APIs", None),
        ("https://github.com/owner/repo/issues", "github.com/owner/repo"),
        ("https://github.com/owner/repo/wiki", "github.com/owner/repo"),
        ("https://github.com/owner/repo/blob/main/pull/1", "github.com/owner/repo"),
        ("https://github.com/Owner/Repo", "github.com/owner/repo"),
        ("https://gitlab.com/owner/repo/issues/1", None),
    ],
)
def test_project_key_leaves_a_thread_of_a_repository_an_item_of_its_own(url, expected):
    """The item a link stands for: one of a repository's threads is news about a change,
    not the project; `repo_key` still names its repository."""
    assert project_key(url) == expected
    if expected is None:
        assert repo_key(url) in (None, "github.com/owner/repo")


@pytest.mark.parametrize("url", INVALID)
def test_invalid_urls_raise(url: str) -> None:
    with pytest.raises(InvalidURL):
        canonical_url(url)
    assert not is_http_url(url)
    assert repo_key(url) is None


def test_cached_canonical_url_is_the_same_function() -> None:
    class Smart(str):  # like lxml's "smart" strings: a str subclass with a reference
        pass

    key = canonical_url(Smart("https://Example.com/a/?utm_source=x"))
    assert key == "https://example.com/a" and type(key) is str
    assert canonical_url("https://Example.com/a/?utm_source=x") is canonical_url(
        "https://Example.com/a/?utm_source=x"
    )
    for _ in range(2):  # an invalid URL raises every time (exceptions are never cached)
        with pytest.raises(InvalidURL):
            canonical_url("javascript:alert(1)")


@pytest.mark.parametrize("value", [None, 42, b"https://example.com", float("nan"), ["x"]])
def test_non_strings_raise(value: object) -> None:
    with pytest.raises(InvalidURL):
        canonical_url(value)  # type: ignore[arg-type]
    assert not is_http_url(value)


def test_invalid_url_is_a_value_error() -> None:
    assert issubclass(InvalidURL, ValueError)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://WWW.Example.COM/a", "example.com"),
        ("https://x.com/a", "twitter.com"),
        ("https://pаypal.com/", "xn--pypal-4ve.com"),
        ("http://[::1]:8080/", "[::1]"),
        ("https://sub.example.co.uk:8443/", "sub.example.co.uk"),
    ],
)
def test_host_of(url: str, host: str) -> None:
    assert host_of(url) == host


def test_is_http_url_accepts_plain_urls() -> None:
    assert is_http_url("https://example.com/a?b=1")
    assert is_http_url("http://127.0.0.1:8000/")


# --- properties -------------------------------------------------------------------

_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
# `.test` and `.example` hosts never meet a site-specific rule (GitHub, YouTube, Medium…).
_host = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(_label, min_size=1, max_size=3),
    st.sampled_from(["test", "example", "co.test"]),
).filter(lambda h: not h.startswith("www."))
_segment = st.text(alphabet=string.ascii_letters + string.digits + "-_~", min_size=1, max_size=8)
_path = st.lists(_segment, max_size=4).map(lambda segs: "/" + "/".join(segs) if segs else "")
# `p` prefix: never a tracking, session, `source` or `amp` parameter.
_key = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=6).map(
    lambda k: "p" + k
)
_value = st.text(alphabet=string.ascii_letters + string.digits + "-._~ ", max_size=8)
_params = st.lists(st.tuples(_key, _value), max_size=4, unique_by=lambda kv: kv[0])


def _query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{k}={v.replace(' ', '+')}" for k, v in pairs)


@st.composite
def _variant_pair(draw: st.DrawFn) -> tuple[str, str]:
    """A plain https URL and a variant of it that must canonicalize the same."""
    host, path, params = draw(_host), draw(_path), draw(_params)
    base = f"https://{host}{path}" + (f"?{_query(params)}" if params else "")

    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    vhost = draw(st.sampled_from(["", "www.", "WWW."])) + host
    vhost = "".join(c.upper() if draw(st.booleans()) else c for c in vhost)
    port = draw(st.sampled_from(["", ":80" if scheme.lower() == "http" else ":443"]))
    vpath = path + draw(st.sampled_from(["", "/"]))
    vparams = list(draw(st.permutations(params)))
    tracking = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["utm_source", "utm_medium", "UTM_Campaign", "fbclid", "ref"]),
                st.text(alphabet=string.ascii_letters, max_size=5),
            ),
            max_size=3,
        )
    )
    for kv in tracking:
        vparams.insert(draw(st.integers(0, len(vparams))), kv)
    fragment = draw(st.sampled_from(["", "#", "#top", "#a/b?c"]))
    variant = f"{scheme}://{vhost}{port}{vpath}" + (f"?{_query(vparams)}" if vparams else "")
    return base, variant + fragment


@PROPERTY
@given(_variant_pair())
def test_variants_collapse_to_one(pair: tuple[str, str]) -> None:
    base, variant = pair
    assert canonical_url(variant) == canonical_url(base)


# Pieces, not characters: escapes and dot segments must appear whole to be interesting.
_url_chars = st.lists(
    st.sampled_from(
        [
            *(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?#%[] "),
            *["é", "你", "ß", "%2F", "%41", "%e4%bd%a0", "..", "./", "//", "%zz", "utm_x=1&", "v="],
        ]
    ),
    max_size=30,
).map("".join)
_any_host = st.one_of(
    _host,
    st.sampled_from(
        [
            "github.com",
            "www.github.com",
            "youtube.com",
            "youtu.be",
            "x.com",
            "medium.com",
            "old.reddit.com",
            "en.m.wikipedia.org",
            "google.com",
            "例え.jp",
            "bücher.de",
            "[::1]",
            "127.0.0.1",
            "EXAMPLE.com",
        ]
    ),
)


@PROPERTY
@given(
    scheme=st.sampled_from(["http", "https", "HTTPS"]),
    host=_any_host,
    port=st.sampled_from(["", ":80", ":443", ":8080", ":0"]),
    rest=_url_chars,
)
def test_canonicalization_is_idempotent(scheme: str, host: str, port: str, rest: str) -> None:
    url = f"{scheme}://{host}{port}/{rest}"
    try:
        once = canonical_url(url)
    except InvalidURL:
        assume(False)
        return
    assert once.startswith("https://")
    assert canonical_url(once) == once
    assert repo_key(once) == repo_key(url)


@PROPERTY
@given(st.text(max_size=40))
def test_any_text_is_a_url_or_invalid(text: str) -> None:
    # Never another exception type: callers catch InvalidURL only.
    try:
        result = canonical_url(text)
    except InvalidURL:
        return
    assert result.startswith("https://")
    assert canonical_url(result) == result


@PROPERTY
@given(owner=_label, repo=_label, tail=st.sampled_from(["", "/", ".git", "/tree/main", "#readme"]))
def test_github_repo_links_share_one_key(owner: str, repo: str, tail: str) -> None:
    url = f"https://github.com/{owner.upper()}/{repo}{tail}"
    assume(owner not in {"about", "site", "team", "home", "new", "join", "apps"})
    assert canonical_url(url) == f"https://github.com/{owner}/{repo}"
    assert repo_key(url) == f"github.com/{owner}/{repo}"


# --- agreement with the independent reference parse (../shared) ------------------------


def _none_if_missing(value: object) -> object:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _agreement(frame: pd.DataFrame) -> tuple[float, float, int]:
    """Share of rows (weighted) where our key equals the reference; InvalidURL = None."""
    grouped = (
        frame.assign(n=1)
        .groupby(["url", "canonical_url", "repo_key"], dropna=False, sort=False)["n"]
        .sum()
        .reset_index()
    )
    same_canon = same_repo = total = 0
    for url, ref_canon, ref_repo, n in grouped.itertuples(index=False):
        url = _none_if_missing(url)
        try:
            ours = canonical_url(url).removeprefix("https://")  # type: ignore[arg-type]
        except InvalidURL:
            ours = None
        same_canon += n * (ours == _none_if_missing(ref_canon))
        same_repo += n * (repo_key(url) == _none_if_missing(ref_repo))  # type: ignore[arg-type]
        total += n
    return same_canon / total, same_repo / total, total


@pytest.mark.shared
def test_agreement_with_reference_picks(shared_dir: Path) -> None:
    pd = pytest.importorskip("pandas")
    picks = pd.read_parquet(
        shared_dir / "datasets/python-weekly/reference/picks.parquet",
        columns=["url", "canonical_url", "repo_key", "is_primary"],
    )
    primary = picks[picks["is_primary"]]
    canon, repo, total = _agreement(primary)
    assert total > 2000
    assert canon >= 0.99, f"canonical_url agrees on {canon:.2%} of {total} primary picks"
    assert repo >= 0.99, f"repo_key agrees on {repo:.2%} of {total} primary picks"


@pytest.mark.shared
def test_agreement_with_reference_sightings(shared_dir: Path) -> None:
    pd = pytest.importorskip("pandas")
    sightings = pd.read_parquet(
        shared_dir / "datasets/sightings/sightings-2023-2025-01.parquet",
        columns=["url", "canonical_url", "repo_key"],
    )
    canon, repo, total = _agreement(sightings)
    assert total > 80_000
    assert canon >= 0.99, f"canonical_url agrees on {canon:.2%} of {total} sightings"
    assert repo >= 0.99, f"repo_key agrees on {repo:.2%} of {total} sightings"


@pytest.mark.parametrize(
    ("url", "expected", "flags"),
    [
        (
            "https://pаypal.com/login?a=1#x",
            "https://xn--pypal-4ve.com/login?a=1#x",
            ["idn", "mixed_script"],
        ),
        ("https://bücher.example:8443/p", "https://xn--bcher-kva.example:8443/p", ["idn"]),
        ("https://例え.テスト/", "https://xn--r8jz45g.xn--zckzah/", ["idn"]),
        ("https://Example.com/Path", "https://Example.com/Path", []),
    ],
)
def test_ascii_url_spells_idn_hosts_in_punycode_and_flags_lookalikes(url, expected, flags):
    assert ascii_url(url) == (expected, flags)
