"""Newsletter feeds (one entry per issue) -> one candidate per link of each issue.

Python Weekly, PyCoder's Weekly or Awesome Python Weekly publish a feed whose entries
are whole issues. What another curator picked is the *links inside* an issue, so for a
source of kind ``newsletter`` every link of an issue becomes a candidate: its text is
the title, the text around it the description, the heading above it the section hint
(projects, podcasts, discussions; jobs, events and sponsors are left out), the issue's
date its date.

What is not a pick is dropped: links to a site's home page or to the issue itself,
share and subscribe links, "read more"/"issue #612" style links, and boilerplate (a
link found in more than half of the feed's issues, once there are three or more).
An issue with fewer than MIN_LINKS links left (a feed of summaries only) is skipped and
counted; a feed whose every issue is like that is a ParseError: the source is
configured as a newsletter but is not one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from crawler.items import Candidate
from crawler.parsers.common import (
    ParseError,
    ParseResult,
    checked_link,
    clean_title,
    fill_identity,
    http_link,
    is_site_root,
)
from crawler.parsers.feeds import Feed, FeedEntry, cap_newest, read_feed
from crawler.sources import Source
from crawler.text import SUMMARY_MAX, clean_text, parse_date
from crawler.urls import host_of

__all__ = ["MIN_LINKS", "issue_links", "parse_newsletter", "section_of_heading"]

# Fewer links than this after filtering: not an issue of links (a summary, a notice).
MIN_LINKS = 3
# Links taken from one issue; a real issue has 20-60.
MAX_LINKS_PER_ISSUE = 150
# Issues read per feed (newest first, as feeds list them).
MAX_ISSUES = 50
_HTML_CAP = 2_000_000

_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCKS = frozenset({"li", "p", "td", "dd", "dt", "div", "blockquote", "section", "article"})
_LISTS = frozenset({"ul", "ol", "dl", "table"})
_HEADING_WRAPPERS = frozenset({"strong", "b", "span", "font"})
_DROP = ("script", "style", "noscript", "template", "svg")

# Headings whose links are not picks (jobs, events, ads) and the section of the others.
_SKIP_HEADING = re.compile(
    r"\b(jobs?|hiring|careers?|events?|webinars?|meetups?|conferences?|sponsor(ed|s|ship)?|"
    r"partners?|advertis\w*|promoted|classifieds?)\b|招聘|活动|赞助|广告",
    re.I,
)
_SECTION_HEADINGS = (
    (
        "article",
        re.compile(r"\b(articles?|tutorials?|news|blogs?|posts?|reads?)\b|文章|快讯|新闻", re.I),
    ),
    ("audio_video", re.compile(r"\b(podcasts?|videos?|talks?|screencasts?)\b|播客|视频", re.I)),
    ("hot_topic", re.compile(r"\b(discussions?|threads?|questions?)\b|讨论|问答", re.I)),
    (
        "project",
        re.compile(
            r"\b(projects?|tools?|librar(y|ies)|packages?|repos(itories)?|open source|code)\b"
            r"|项目|开源|工具|好物|妙品",
            re.I,
        ),
    ),
)
# Link texts that name an action or the newsletter itself, not an item.
_GENERIC_TEXT = re.compile(
    r"^(here|click here|read (it )?(more|here|online)|more|link|web( version)?|website|source|"
    r"view (this email )?(in (your )?browser|online)|unsubscribe|subscribe( here| now)?|"
    r"sign up|share|tweet|comments?|discuss|archives?|previous issues?|next issue|"
    r"sponsor(ed)?|advertise( with us)?|manage (your )?subscription|update (your )?preferences)"
    r"[\s.!:»›>→]*$",
    re.I,
)
# "Issue #612", "Awesome Python Weekly - Issue 505": a link to an issue, not an item (the
# number ends the text; "issue 1234 of CPython, explained" is an item).
_ISSUE_TEXT = re.compile(r"\b(issue|edition)\s*#?\s*\d+$|^#\s*\d+$|第\s*\d+\s*期$", re.I)
_SHARE_PATH = re.compile(
    r"/(intent|sharer?|shareArticle|submit|submitlink|unsubscribe|subscribe|preferences)\b", re.I
)
# How an ad is marked inside a section of items: the source line in capitals, or a tag.
_SPONSOR_MARK = re.compile(r"\bSPONSOR(ED)?\b")
_SPONSOR_BRACKETS = re.compile(r"[\[(]\s*(sponsor(ed)?|ad|advertisement)\s*[\])]", re.I)
_EDGE_PUNCT = re.compile(r"^[\s\-–—:：|·•,，]+|[\s\-–—:：|·•,，]+$")


@dataclass
class _Link:
    url: str
    canonical: str
    title: str
    description: str
    heading: str
    section: str | None
    extra: dict[str, object]  # what cleaning the title found (title_flags)


def parse_newsletter(body: bytes, headers: Mapping[str, str] | None, source: Source) -> ParseResult:
    """Newsletter feed bytes -> one candidate per link of its issues."""
    return issue_links(read_feed(body, headers), source)


def issue_links(feed: Feed, source: Source) -> ParseResult:
    """The links of every issue of `feed` as candidates, newest issue first."""
    result = ParseResult(notes=dict(feed.notes))
    result.notes["entries_total"] = len(feed.entries)
    base = http_link(feed.link) or source.url
    own_pages = {_canonical(base), _canonical(source.url)}
    own_hosts = {host_of(base), host_of(source.url)}
    issues: list[tuple[FeedEntry, str | None, list[_Link]]] = []
    for entry in feed.entries[:MAX_ISSUES]:
        page = checked_link(entry.link, base)
        html = entry.content if _longer(entry.content, entry.summary) else entry.summary
        issues.append((entry, page[0] if page else None, list(_links(html or "", page, base))))
    boilerplate = _boilerplate([links for _e, _p, links in issues])
    position = 0
    kept_issues = 0
    for entry, page, links in issues:
        own = own_pages | {_canonical(page)}
        kept: dict[str, _Link] = {}
        for link in links:
            if link.canonical in boilerplate or link.canonical in own:
                continue
            if is_site_root(link.canonical):
                continue
            if link.canonical in kept:
                result.skip("duplicate")
                continue
            kept[link.canonical] = link
        if len(kept) < MIN_LINKS:
            result.skip("issue_without_links")
            continue
        kept_issues += 1
        if len(kept) > MAX_LINKS_PER_ISSUE:
            result.skip("links_capped", len(kept) - MAX_LINKS_PER_ISSUE)
        issue_title = clean_text(entry.title, 200) or None
        published_raw = clean_text(entry.published_raw, 100) or None
        published, date_flag = parse_date(published_raw)
        for link in list(kept.values())[:MAX_LINKS_PER_ISSUE]:
            position += 1
            extra = dict(link.extra)
            if page:
                extra["issue_url"] = page
            if issue_title:
                extra["issue"] = issue_title
            if link.heading:
                extra["heading"] = link.heading
            if host_of(link.canonical) in own_hosts:
                extra["own_site"] = True  # maybe a redirect (pycoders.com/link/N/web)
            c = Candidate(
                url=link.url,
                title=link.title,
                source=source.name,
                section=link.section or source.section or "article",
                description=link.description,
                published=published,
                published_raw=published_raw,
                date_flag=date_flag,
                position=position,
                extra=extra,
            )
            result.append(fill_identity(c, link.canonical))
    result.notes["issues_with_links"] = kept_issues
    if issues and not kept_issues:
        raise ParseError(
            "no_links",
            f"none of the {len(issues)} issues read lists {MIN_LINKS} or more links "
            '(not a newsletter of links? use kind = "feed")',
        )
    cap_newest(result, source)
    return result


def section_of_heading(heading: str) -> str | None:
    """The section a heading announces, "skip" for jobs/events/sponsors, None if unknown."""
    if not heading:
        return None
    if _SKIP_HEADING.search(heading):
        return "skip"
    # The first kind named wins: "Articles, Tutorials and Talks" lists articles.
    found = [(m.start(), section) for section, p in _SECTION_HEADINGS if (m := p.search(heading))]
    return min(found)[1] if found else None


# --- reading one issue ---------------------------------------------------------------


def _links(html: str, page: tuple[str, str] | None, base: str) -> Iterator[_Link]:
    """The links of one issue's HTML in document order, with their heading and text."""
    if not html or "<a" not in html.lower():
        return
    from lxml import etree
    from lxml import html as lxml_html

    try:
        root = lxml_html.fragment_fromstring(html[:_HTML_CAP].replace("\x00", ""), "div")
    except (etree.ParserError, ValueError):
        return
    etree.strip_elements(root, *_DROP, etree.Comment, with_tail=False)
    link_base = page[0] if page else base
    heading = ""
    section: str | None = None
    fresh = False  # a heading seen and no link since: a following blockquote extends it
    for el in root.iter():
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in _HEADINGS or (tag == "p" and _is_styled_heading(el)):
            heading = _text(el, 200)
            section, fresh = section_of_heading(heading), True
        elif tag == "blockquote" and fresh and el.find(".//a") is None:
            heading = clean_text(f"{heading} {_text(el, 200)}", 300)
            section = section_of_heading(heading)
        elif tag == "a":
            fresh = False
            if section == "skip":
                continue
            link = _link(el, link_base, heading, section)
            if link is not None:
                yield link


def _link(a: object, base: str, heading: str, section: str | None) -> _Link | None:
    checked = checked_link(a.get("href"), base)  # type: ignore[attr-defined]
    if checked is None:
        return None
    url, canonical = checked
    if _SHARE_PATH.search(urlsplit(url).path) or "unsubscribe" in url.lower():
        return None
    extra: dict[str, object] = {}
    title = _EDGE_PUNCT.sub("", clean_title(a.text_content(), extra))  # type: ignore[attr-defined]
    if len(title) < 2 or _GENERIC_TEXT.match(title) or _ISSUE_TEXT.search(title):
        return None
    description = _description(a, title)
    if _SPONSOR_MARK.search(description) or _SPONSOR_BRACKETS.search(f"{title} {description}"):
        return None  # an ad among the items ("… SPONSOR", "[ Sponsor ]")
    return _Link(url, canonical, title, description, heading, section, extra)


def _description(a: object, title: str) -> str:
    """The text around a link: its block without the title, else the block after its list."""
    block = next((e for e in a.iterancestors() if e.tag in _BLOCKS), None)  # type: ignore[attr-defined]
    text = ""
    if block is not None:
        text = _EDGE_PUNCT.sub("", _text(block, None).replace(title, "", 1))
    if not text or (block is not None and block.tag == "li" and len(text) < 20):
        # <ul><li><a>name</a> <ul><li>» tag</li></ul></li></ul><p>what it is</p>: the text
        # follows the list.
        outer = block
        for anc in a.iterancestors():  # type: ignore[attr-defined]
            if anc.tag in _LISTS:
                outer = anc
            elif anc.getparent() is None:
                break
        following = outer.getnext() if outer is not None else None
        while following is not None and following.tag == "p" and not _text(following, 10):
            following = following.getnext()  # an image between the link and its text
        if (
            following is not None
            and following.tag in ("p", "blockquote")
            and following.find(".//a") is None
            and not _is_styled_heading(following)
        ):
            text = _text(following, None) or text
    return clean_text(text, SUMMARY_MAX)


def _is_styled_heading(p: object) -> bool:
    """A short paragraph that is one styled element and no link: how emails title sections.

    `<p><strong>Podcasts</strong></p>`, or `<p><span style="font-size: 18px">Projects &
    Code</span></p>` where the style is inline."""
    if p.find(".//a") is not None:  # type: ignore[attr-defined]
        return False
    children = list(p)  # type: ignore[call-overload]
    if len(children) != 1 or children[0].tag not in _HEADING_WRAPPERS:
        return False
    if (p.text or "").strip() or (children[0].tail or "").strip():  # type: ignore[attr-defined]
        return False
    return 0 < len(_text(p, 100)) <= 60


def _text(el: object, max_len: int | None) -> str:
    return clean_text(el.text_content(), max_len)  # type: ignore[attr-defined]


# --- across issues -------------------------------------------------------------------


def _boilerplate(issues: list[list[_Link]]) -> set[str]:
    """Links in more than half of the issues (the footer, the translator's page …)."""
    with_links = [links for links in issues if links]
    if len(with_links) < 3:
        return set()
    counts = Counter(c for links in with_links for c in {link.canonical for link in links})
    return {c for c, n in counts.items() if n * 2 > len(with_links)}


def _canonical(url: str | None) -> str | None:
    checked = checked_link(url) if url else None
    return checked[1] if checked else None


def _longer(a: str | None, b: str | None) -> bool:
    return len(a or "") >= len(b or "")
