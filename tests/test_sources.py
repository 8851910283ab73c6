"""crawler.sources: the source list loader, its one-line errors and the packaged defaults."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawler.errors import ConfigError, CrawlError
from crawler.items import SECTIONS
from crawler.sources import (
    KINDS,
    Source,
    check_url,
    default_sources_path,
    enabled_sources,
    load_sources,
    parse_sources,
    select_sources,
)

FIXTURES = Path(__file__).parent / "fixtures" / "sources"

# One fixture per error case; each message must name the file and the entry.
BAD = {
    "unknown-kind": "source #2 'foo': unknown kind 'rss' (expected one of feed, newsletter, github_trending,",
    "unknown-field": "source #2 'foo': unknown field(s) 'sectoin' (expected name, kind, url,",
    "duplicate-name": "source #2 'ok': duplicate name (first used by source #1)",
    "missing-url": "source #2 'foo': missing field(s) 'url'",
    "missing-name": "source #2: missing field(s) 'name'",
    "url-scheme": "source #2 'foo': bad url 'file:///etc/passwd': scheme 'file' is not http",
    "url-ftp": "source #2 'foo': bad url 'ftp://example.com/feed.xml': scheme 'ftp'",
    "url-userinfo": "source #2 'foo': bad url 'http://good.test@evil.test/feed.xml': user-info",
    "url-backslash": "source #2 'foo': bad url 'http://evil.test\\\\@good.test/': contains a",
    "url-no-host": "source #2 'foo': bad url 'https:///feed.xml': has no host",
    "url-space": "source #2 'foo': bad url 'https://example.com/a feed.xml': contains spaces",
    "url-bad-port": "source #2 'foo': bad url 'https://example.com:99999/feed.xml': cannot be",
    "bad-section": "source #2 'foo': unknown section 'news' (expected one of article, project,",
    "enabled-not-bool": "source #2 'foo': 'enabled' must be true or false",
    "options-not-table": "source #2 'foo': 'options' must be a table, got int",
    "option-bad-int": "source #2 'foo': option 'max_new_items' must be a non-negative integer",
    "option-bad-tags": "source #2 'foo': option 'tags' must be a list of strings",
    "option-bad-match": "source #2 'foo': option 'match' is not a valid regular expression: "
    "missing ), unterminated subpattern at position 8",
    "bad-name": "source #2 'foo bar': bad name (use 1-64 letters",
    "name-not-string": "source #2: 'name' must be a string",
    "invalid-toml": "line 9: invalid TOML: Invalid value (column 7)",
    "top-level-key": "unknown top-level key(s) 'version' (expected [[source]] tables)",
    "no-sources": "no [[source]] entries",
    "not-a-table-array": "no [[source]] entries",
    "not-utf8": "not UTF-8 (line 2, byte 22)",
}


def test_every_bad_fixture_has_a_case() -> None:
    assert {p.stem for p in (FIXTURES / "bad").glob("*.toml")} == set(BAD)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_file_is_a_one_line_error_naming_file_and_entry(case: str) -> None:
    path = FIXTURES / "bad" / f"{case}.toml"
    with pytest.raises(ConfigError) as info:
        load_sources(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert BAD[case] in message
    assert "\n" not in message
    assert isinstance(info.value, CrawlError)


def test_minimal_file_gets_defaults() -> None:
    assert load_sources(FIXTURES / "good" / "minimal.toml") == [
        Source("real-python", "feed", "https://realpython.com/atom.xml", None, True, {})
    ]


def test_full_file_reads_every_field_and_kind() -> None:
    sources = load_sources(FIXTURES / "good" / "full.toml")
    assert {s.kind for s in sources} == set(KINDS)
    by_name = {s.name: s for s in sources}
    assert by_name["trending"].enabled is False
    assert by_name["trending"].section == "project"
    assert by_name["lobsters"].options == {"tags": ["python", "django"], "max_new_items": 5}
    assert by_name["a-page"].url == "http://127.0.0.1:8000/article.html"
    assert [s.name for s in enabled_sources(sources)] == [
        "real-python",
        "python-weekly",
        "hn",
        "lobsters",
        "reddit",
        "pypi-uv",
        "repo-uv",
        "a-page",
        "a-blog-sitemap",
    ]
    assert by_name["a-blog-sitemap"].options["match"] == "^/posts/"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read: No such file"):
        load_sources(tmp_path / "nope.toml")


def test_parse_sources_labels_messages_with_the_given_name() -> None:
    with pytest.raises(ConfigError, match=r"^mine\.toml: no \[\[source\]\] entries$"):
        parse_sources("", "mine.toml")


def test_duplicate_names_differing_in_case_are_duplicates() -> None:
    text = (
        '[[source]]\nname = "Real-Python"\nkind = "feed"\nurl = "https://a.test/"\n'
        '[[source]]\nname = "real-python"\nkind = "feed"\nurl = "https://b.test/"\n'
    )
    with pytest.raises(ConfigError, match="source #2 'real-python': duplicate name"):
        parse_sources(text)


@pytest.mark.parametrize(
    "url",
    [
        "https://realpython.com/atom.xml",
        "http://127.0.0.1:8765/feed.xml",
        "https://hn.algolia.com/api/v1/search?query=python&numericFilters=points>=20",
        "https://[::1]:8080/x",
    ],
)
def test_check_url_accepts(url: str) -> None:
    assert check_url(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "",
        " https://a.test/",
        "javascript:alert(1)",
        "data:text/plain,hi",
        "//a.test/feed",
        "https://user:pw@a.test/",
        "http://example.com%2F@evil.test/",
        "https://a.test/\x00",
        "https://a.test/" + "x" * 2100,
    ],
)
def test_check_url_rejects(url: str) -> None:
    assert check_url(url) is not None


# -- select_sources --------------------------------------------------------------------------


def test_select_sources_keeps_list_order_and_includes_disabled() -> None:
    sources = load_sources(FIXTURES / "good" / "full.toml")
    chosen = select_sources(sources, ["reddit", "trending", "reddit"])
    assert [s.name for s in chosen] == ["trending", "reddit"]


def test_select_unknown_source_suggests_close_names() -> None:
    sources = load_sources(FIXTURES / "good" / "full.toml")
    with pytest.raises(ConfigError, match=r"^unknown source 'redit' \(did you mean 'reddit'\?\)$"):
        select_sources(sources, ["redit"])
    with pytest.raises(ConfigError, match=r"^unknown source 'zzz'$"):
        select_sources(sources, ["zzz"])


# -- the packaged default list ---------------------------------------------------------------


def test_default_sources_are_valid_and_many() -> None:
    sources = load_sources()
    enabled = enabled_sources(sources)
    assert len(enabled) >= 40
    assert len({s.name for s in sources}) == len(sources)
    assert len({s.url for s in sources}) == len(sources)
    for source in sources:
        assert source.kind in KINDS
        assert source.section in SECTIONS
        assert urlsplit(source.url).scheme in ("http", "https")


def test_default_sources_cover_the_newsletter_channels() -> None:
    sources = load_sources()
    kinds = {s.kind for s in sources}
    # Every kind but a single page and a sitemap (no blog's sitemap URL was checked online).
    assert set(KINDS) - {"page", "sitemap"} <= kinds
    urls = " ".join(s.url for s in sources)
    for needle in (
        "realpython.com",
        "pycoders.com",
        "planetpython.org",
        "talkpython.fm",
        "pythonbytes.fm",
        "youtube.com/feeds/videos.xml?channel_id=",
        "github.com/trending/python?since=daily",
        "github.com/trending/python?since=weekly",
        "hn.algolia.com",
        "lobste.rs",
        "reddit.com/r/Python",
        "pypi.org",
        "releases.atom",
        "v2ex.com",
    ):
        assert needle in urls, needle
    # public hosts only: the defaults must pass the address guard without RADAR_ALLOW_HOSTS
    assert all(urlsplit(s.url).hostname not in ("localhost", "127.0.0.1") for s in sources)


def test_default_path_is_the_packaged_file() -> None:
    path = default_sources_path()
    assert path.name == "sources.toml"
    assert load_sources(path) == load_sources()


def test_every_source_named_in_help_and_docs_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    # `crawl --source NAME` examples must work when copied: `pypi-uv` was none.
    import re

    from crawler import cli

    monkeypatch.setenv("COLUMNS", "10000")  # no wrapping inside a name like hn-python
    repo = Path(__file__).resolve().parents[1]
    texts = [
        build().format_help()
        for build in (cli.build_parser, cli.build_status_parser, cli.build_ingest_parser)
    ]
    texts += [path.read_text("utf-8") for path in (repo / "README.md", *repo.glob("docs/*.md"))]
    texts += [path.read_text("utf-8") for path in (repo / "deploy").iterdir()]
    named = {m for text in texts for m in re.findall(r"--source[\s=]+([a-z0-9][\w-]*)", text)}
    assert named, "no example found: the pattern no longer matches the help texts"
    assert named <= {s.name for s in load_sources()}


# -- options: the keys the code reads, per kind ----------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        (
            "newsletter",
            "{ resolve_link = false }",  # a typo of resolve_links
            "source #1 'foo': unknown option(s) 'resolve_link' "
            "(known for kind 'newsletter': max_new_items, resolve_links)",
        ),
        (
            "feed",
            "{ fetch_pages = false, max_new = 3 }",  # an aggregator's option on a feed
            "source #1 'foo': unknown option(s) 'fetch_pages', 'max_new' "
            "(known for kind 'feed': max_new_items)",
        ),
        (
            "reddit",
            '{ skip_stickied = "no" }',
            "source #1 'foo': option 'skip_stickied' must be true or false",
        ),
        (
            "sitemap",
            '{ max_sitemap = 2, matches = "^/blog/" }',
            "source #1 'foo': unknown option(s) 'max_sitemap', 'matches' "
            "(known for kind 'sitemap': max_new_items, fetch_pages, max_sitemaps, match)",
        ),
        (
            "sitemap",
            '{ match = "[a-" }',
            "source #1 'foo': option 'match' is not a valid regular expression: "
            "unterminated character set at position 0",
        ),
        ("sitemap", '{ match = "" }', "source #1 'foo': option 'match' must be a non-empty string"),
        (
            "sitemap",
            "{ max_sitemaps = -1 }",
            "source #1 'foo': option 'max_sitemaps' must be a non-negative integer",
        ),
    ],
)
def test_unknown_or_mistyped_option_stops_the_run_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, options: str, message: str
) -> None:
    from crawler import cli

    path = tmp_path / "mine.toml"
    path.write_text(
        f'[[source]]\nname = "foo"\nkind = "{kind}"\nurl = "https://a.test/"\n'
        f"options = {options}\n",
        "utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_sources(path)
    assert str(info.value) == f"{path}: {message}"
    assert cli.main(["--sources", str(path), "--data-dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err == f"crawl: error: {info.value}\n"
    assert not (tmp_path / "d").exists()


def test_every_option_the_code_reads_is_accepted_for_its_kind() -> None:
    text = "".join(
        f'[[source]]\nname = "{kind}"\nkind = "{kind}"\nurl = "https://a.test/{kind}"\n{opts}\n'
        for kind, opts in (
            ("feed", "options = { max_new_items = 0 }"),
            ("newsletter", "options = { resolve_links = false, max_new_items = 9 }"),
            ("hackernews", "options = { fetch_pages = false }"),
            ("lobsters", 'options = { fetch_pages = true, tags = ["python"] }'),
            ("reddit", "options = { fetch_pages = false, skip_stickied = false }"),
            ("sitemap", 'options = { fetch_pages = true, max_sitemaps = 0, match = "/20" }'),
        )
    )
    assert [s.options for s in parse_sources(text)][1] == {
        "resolve_links": False,
        "max_new_items": 9,
    }


def test_the_sitemap_example_in_the_docs_is_valid() -> None:
    import re

    docs = (Path(__file__).resolve().parents[1] / "docs" / "OPERATIONS.md").read_text("utf-8")
    (example,) = [b for b in re.findall(r"```toml\n(.*?)```", docs, re.S) if "sitemap" in b]
    (source,) = parse_sources(example, "OPERATIONS.md")
    assert (source.kind, source.options["match"]) == ("sitemap", "^/posts/")
