"""Pure parsers: response bytes (+ headers, source) -> list of Candidates.

``PARSERS[source.kind](body, headers, source)`` is the one call a spider makes. Every
parser returns a ParseResult (a list with ``.notes``) or raises ParseError with a
short ``.reason`` code; no other exception is expected to escape.
"""

from __future__ import annotations

from crawler.parsers.common import ParseError, Parser, ParseResult, guarded
from crawler.parsers.feeds import parse_feed
from crawler.parsers.github_repo import parse_github_repo
from crawler.parsers.github_trending import parse_github_trending
from crawler.parsers.hackernews import parse_hackernews
from crawler.parsers.lobsters import parse_lobsters
from crawler.parsers.newsletter import parse_newsletter
from crawler.parsers.pages import parse_page
from crawler.parsers.pypi import parse_pypi
from crawler.parsers.reddit import parse_reddit
from crawler.parsers.sitemap import parse_sitemap

__all__ = ["PARSERS", "ParseError", "ParseResult", "Parser"]

# Keyed by Source.kind. Each entry is guarded: only ParseError escapes.
PARSERS: dict[str, Parser] = {
    kind: guarded(parse)
    for kind, parse in {
        "feed": parse_feed,
        "newsletter": parse_newsletter,
        "github_trending": parse_github_trending,
        "hackernews": parse_hackernews,
        "lobsters": parse_lobsters,
        "reddit": parse_reddit,
        "pypi": parse_pypi,
        "github_repo": parse_github_repo,
        "page": parse_page,
        "sitemap": parse_sitemap,
    }.items()
}
