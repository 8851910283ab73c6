"""Import the newsletter archive: markdown issues (zh + en, free and title-only) -> the store.

The curator keeps his archive as a folder `docs/` of Chinese originals with YAML front
matter (`title`, `pubDate`) and `docs/en/` of English translations with the same file
names. This module has two layers:

* pure parsing (`parse_markdown`, `parse_issue`): text in, dataclasses out, bad input is a
  `Problem` in the result, never an exception;
* the import (`read_archive`, `import_archive`): reads the folder, pairs zh with en, and
  writes each issue through the store's history functions in its own transaction, skipping
  issues whose content hash has not changed (so importing twice changes nothing).

Sections are recognised by keywords, not by exact strings, because the curator's headings
vary (`## [🦄文章&教程](…)`, `### 🦄文章&教程`, `## 🦄 Articles & Tutorials`, …). A line
without heading markup is a heading only when it is nothing but a section's name
(`🦄文章&教程`, `项目&资源：`, `**[🥂讨论&问题](…)**`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from crawler.items import SECTIONS
from crawler.text import parse_local_date
from crawler.urls import InvalidURL, canonical_url, host_of, project_key
from ranking import store

logger = logging.getLogger(__name__)

__all__ = [
    "ImportReport",
    "Issue",
    "Item",
    "Link",
    "ParsedDoc",
    "Problem",
    "Skipped",
    "classify_heading",
    "docs_dir",
    "import_archive",
    "parse_issue",
    "parse_markdown",
    "read_archive",
]

# Bump when parsing changes what is stored: every issue is then re-imported once.
# 2: `- ① title` list entries are items; 3, 4: stray ``` is text; 5: a line that is only a
# section's name is its heading (the 85 issues parse as before; later ones may not).
PARSER_VERSION = "history-5"

# Sections whose items are numbered `N、[title](url)` lines; the others, `book` and `other`,
# are usually one paragraph (a sponsor, a book giveaway) and become one item each.
LISTED_SECTIONS = SECTIONS
BOILERPLATE = "boilerplate"

# (label, pattern) tried in order on the heading text with links, emoji and markup removed.
# Order matters: 好书推荐 is a book, 播客推荐 a sponsor-like recommendation (other), and
# 赞助&支持 (support the newsletter) is boilerplate while 品牌赞助 (a sponsor) is an item.
_SECTION_RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        BOILERPLATE,
        re.compile(
            r"订阅|subscri|回顾|looking back|关于周刊|关于本刊|about|关联阅读|相关阅读|related|"
            r"支持|support|赞赏|目录|contents|往期|archive|声明|disclaimer|留言|评论区",
            re.I,
        ),
    ),
    (
        "book",
        re.compile(r"书|book|giveaway|reading list", re.I),
    ),
    (
        "other",
        re.compile(
            r"推荐|合作|赞助|广告|招聘|活动|福利|sponsor|partner|recommend|promot|advert|"
            r"product|hiring|jobs?\b",
            re.I,
        ),
    ),
    ("article", re.compile(r"文章|教程|博文|article|tutorial|blog|post", re.I)),
    ("project", re.compile(r"项目|资源|工具|开源|库|project|resource|tool|librar|repo", re.I)),
    ("audio_video", re.compile(r"播客|视频|音频|podcast|video|audio|talk|course", re.I)),
    ("hot_topic", re.compile(r"讨论|问题|问答|热议|话题|discuss|question|topic|q&a", re.I)),
]

# The archive's own names of its listed sections (zh originals, en translations). A line
# that is nothing but one of them, emoji and a colon aside, is a heading in any markup:
# `🦄文章&教程`, `项目&资源：`, `**[🥂讨论&问题](…)**`. Other plain lines never are.
_SECTION_NAMES = frozenset(
    {
        "文章&教程",
        "项目&资源",
        "播客&视频",
        "讨论&问题",
        "articles & tutorials",
        "projects & resources",
        "podcasts & videos",
        "discussions & questions",
        "discussion & questions",
        "discussion & question",
    }
)
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_HR = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_BULLET = re.compile(r"^[-*+]\s+")  # a list entry's marker: `- ① title`
# `12、[title](url)`, `3. [title](url)`, `4．title`: the number, then the rest of the line.
_NUMBERED = re.compile(r"^\s{0,3}(?:\*\*)?(\d{1,3})\s*(?:、|\.(?!\d)|．|\)|）)\s*(.*)$")
_BOLD_LINE = re.compile(r"^\s*(?:\*\*|__)(.+?)(?:\*\*|__)\s*[:：]?\s*$")
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")
_ISSUE_NO = re.compile(r"(?:#|＃|第|\bno\.?|\bissue|\bweekly)\s*(\d{1,4})(?!\d|\s*[-/]\d)", re.I)
_COMPILATION = re.compile(r"合集|精华|精选集|第.季|季度|season|compilation|best of|anthology", re.I)
_DELETED = re.compile(r"(已删除?|删除|已移除|\b(deleted|removed))\W*$", re.I)
_EMOJI_OR_PUNCT = re.compile(r"[^\w&+/\s\u3400-\u9fff]+")
_IMG_HTML = re.compile(r"<img\b[^>]*>", re.I)
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_LINK_START = re.compile(r"[\[\\<]")
_FRONT_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$")


# --- records --------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Something wrong with one input file; `error` means the file was not imported."""

    file: str
    line: int
    message: str
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Link:
    """A link inside an item's summary (a related link, not an item of its own)."""

    url: str
    text: str
    canonical_url: str | None = None
    repo_key: str | None = None
    host: str | None = None


@dataclass
class Item:
    """One primary item of an issue: numbered, circled (title-only) or a paragraph."""

    section: str
    section_raw: str
    position: int
    title_zh: str | None = None
    title_en: str | None = None
    summary_zh: str | None = None
    summary_en: str | None = None
    url: str | None = None
    canonical_url: str | None = None
    repo_key: str | None = None
    host: str | None = None
    links: list[Link] = field(default_factory=list)
    style: str = "numbered"  # numbered | circled | paragraph
    line: int = 0


@dataclass
class ParsedDoc:
    """One markdown file, parsed: metadata, items, and what was wrong with it."""

    name: str
    lang: str
    issue_no: int | None = None
    pub_date: dt.date | None = None
    title: str | None = None
    items: list[Item] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    compilation: bool = False

    @property
    def failed(self) -> bool:
        return any(p.severity == "error" for p in self.problems)


@dataclass
class Issue:
    """An issue ready to store: zh and en merged. kind: full | title_only | special."""

    issue_no: int
    pub_date: dt.date
    title: str | None
    title_en: str | None
    kind: str
    file: str
    en_file: str | None
    content_hash: str
    items: list[Item] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Skipped:
    """A file that is not an issue of items (season compilation, orphan translation: not
    stored; an essay: stored without items, for its number and date), never counted."""

    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


@dataclass
class ImportReport:
    """What `import_archive` did; `ok` is False when some file could not be imported."""

    imported: list[int] = field(default_factory=list)  # new or replaced issues of items
    unchanged: list[int] = field(default_factory=list)
    special: list[int] = field(default_factory=list)  # without items (essays): in `skipped`
    skipped: list[Skipped] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    items: int = 0  # primary items written in this run
    links: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """One line for the CLI."""
        return (
            f"{len(self.imported)} issues imported ({self.items} items, {self.links} links), "
            f"{len(self.unchanged)} unchanged, "
            f"{len(self.skipped)} files skipped, {len(self.errors)} errors, "
            f"{len(self.warnings)} warnings"
        )


# --- markdown helpers -------------------------------------------------------------------


@dataclass(frozen=True)
class _MdLink:
    start: int
    end: int
    text: str
    url: str
    image: bool


def _match_bracket(text: str, start: int, open_ch: str, close_ch: str) -> int:
    """Index of the bracket closing text[start] (== open_ch), or -1."""
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == open_ch:
            depth += 1
        elif ch == close_ch:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _scan_links(text: str) -> list[_MdLink]:
    """Inline markdown links `[text](url "title")`, images and `<https://…>` autolinks."""
    out: list[_MdLink] = []
    i = 0
    while i < len(text):
        special = _LINK_START.search(text, i)
        if special is None:
            break
        i = special.start()
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            close = _match_bracket(text, i, "[", "]")
            if close != -1 and close + 1 < len(text) and text[close + 1] == "(":
                end = _match_bracket(text, close + 1, "(", ")")
                if end == -1 and re.fullmatch(r"\(\s*https?://\S+\s*", text[close + 1 :]):
                    end = len(text)  # `[text](https://…` cut at the end of the line
                    text = text + ")"
                if end != -1:
                    target = text[close + 2 : end].strip()
                    url = target.split()[0] if target else ""
                    url = url.strip("<>")
                    label = text[i + 1 : close]
                    image = i > 0 and text[i - 1] == "!"
                    # A linked image `[![alt](src)](href)` is a picture, not a related link.
                    if not image and re.fullmatch(r"\s*!\[[^\]]*\]\([^)]*\)\s*", label):
                        image = True
                    start = i - 1 if (i > 0 and text[i - 1] == "!") else i
                    out.append(_MdLink(start, end + 1, label, url, image))
                    i = end + 1
                    continue
            i += 1
            continue
        if ch == "<":
            m = _AUTOLINK.match(text, i)
            if m:
                out.append(_MdLink(i, m.end(), m.group(1), m.group(1), False))
                i = m.end()
                continue
        i += 1
    return out


def _plain(text: str) -> str:
    """Markdown inline -> readable text: links become their text, images disappear."""
    text = _IMG_HTML.sub("", text)
    parts: list[str] = []
    pos = 0
    for link in _scan_links(text):
        parts.append(text[pos : link.start])
        if not link.image:
            parts.append(_plain(link.text))
        pos = link.end
    parts.append(text[pos:])
    out = "".join(parts)
    # Bold markers and escapes go, except inside `code` (where `__slots__` must stay).
    pieces = re.split(r"(`[^`]*`)", out)
    for i in range(0, len(pieces), 2):
        piece = re.sub(r"\*\*(.+?)\*\*", r"\1", pieces[i])
        pieces[i] = re.sub(r"\\([\\`*_{}\[\]()#+\-.!<>|~])", r"\1", piece)
    return re.sub(r"[ \t]+", " ", "".join(pieces)).strip()


def _make_link(url: str, text: str) -> Link:
    canon = key = host = None
    try:
        canon = canonical_url(url)
        key = project_key(url)
        host = host_of(url)
    except InvalidURL:
        pass
    return Link(url=url, text=_plain(text), canonical_url=canon, repo_key=key, host=host)


def classify_heading(text: str) -> str:
    """Normalise a section heading to a section (one of LISTED_SECTIONS, `book`, `other`),
    `boilerplate`, or `` (unknown)."""
    label = _heading_label(text)
    for name, pattern in _SECTION_RULES:
        if pattern.search(label):
            return name
    return ""


def _named_section(line: str) -> str:
    """The section of a line that is only a section's name (`_SECTION_NAMES`), or ``."""
    label = _heading_label(line)
    return classify_heading(label) if label.lower() in _SECTION_NAMES else ""


def _section_raw(text: str) -> str:
    """The heading as the curator wrote it, minus link and markup: `🦄文章&教程`."""
    return _plain(text).strip("[]*_ ").strip()


def _heading_label(text: str) -> str:
    label = _plain(text)
    label = _EMOJI_OR_PUNCT.sub(" ", label)
    return re.sub(r"\s+", " ", label).strip()


def _circled_number(ch: str) -> int | None:
    """1 for ①, 21 for ㉑, 11 for ⓫ …; None for anything that is not a circled number."""
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return None
    if "CIRCLED" not in name:
        return None
    value = unicodedata.numeric(ch, -1)
    return int(value) if value >= 0 and value == int(value) else None


def _parse_date(text: str) -> dt.date | None:
    """`2025-01-18`, `2025/1/18 08:00`, `2025年1月18日`; a ValueError for a date that does
    not exist (`2025-02-30`)."""
    m = _DATE.search(text)
    if not m:
        return None
    return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def _unquote_yaml(value: str) -> str | None:
    """A scalar of the small YAML subset front matter uses; None when a quote is unclosed."""
    value = value.strip()
    if value[:1] == "'":
        if len(value) < 2 or not value.endswith("'"):
            return None
        return value[1:-1].replace("''", "'")
    if value[:1] == '"':
        if len(value) < 2 or not value.endswith('"'):
            return None
        return value[1:-1].replace('\\"', '"')
    return re.sub(r"\s+#.*$", "", value)


# --- parsing one file -------------------------------------------------------------------


class _Builder:
    """State of the line-by-line parse of one document."""

    def __init__(self, doc: ParsedDoc) -> None:
        self.doc = doc
        self.section: str | None = None  # None before the first section heading
        self.section_raw = ""
        self.paragraph_section = False
        self.item: Item | None = None
        self.item_lines: list[str] = []
        self.last_number: int | None = None  # last marker number in this section block
        self.positions: dict[str, int] = {}
        self.section_text: list[str] = []  # paragraph sections: their text
        self.section_line = 0
        self.implicit = False  # section opened by a ① list without a heading
        self.skipping = False  # inside a withdrawn item: its text is not a summary
        self.unknown: list[Problem] = []  # warnings for unknown headings
        self.listed_headings = 0

    # items ---------------------------------------------------------------------------
    def close_item(self) -> None:
        item = self.item
        if item is None:
            return
        summary_lines = self.item_lines
        text = "\n".join(summary_lines)
        links = [_make_link(lk.url, lk.text) for lk in _scan_links(text) if not lk.image and lk.url]
        summary = "\n".join(p for p in (_plain(s) for s in _paragraphs(summary_lines)) if p)
        item.links = [*item.links, *links]
        if self.doc.lang == "en":
            item.summary_en = summary or None
        else:
            item.summary_zh = summary or None
        self.doc.items.append(item)
        self.item = None
        self.item_lines = []

    def start_item(self, rest: str, number: int | None, style: str, lineno: int) -> None:
        self.close_item()
        assert self.section is not None
        last = self.positions.get(self.section, 0)
        position = number if (number is not None and number > last) else last + 1
        self.positions[self.section] = position
        if number is not None:
            self.last_number = number
        title, url, title_links = _title_and_url(rest)
        if style != "circled" and url is None and _DELETED.search(title):
            # "3、原推荐文章为拼凑且非原创，已删": a withdrawn pick keeps its number, not a row.
            logger.debug("%s:%d: withdrawn item skipped: %s", self.doc.name, lineno, title)
            self.item = None
            self.item_lines = []
            self.skipping = True
            return
        self.skipping = False
        item = Item(
            section=self.section,
            section_raw=self.section_raw,
            position=position,
            style=style,
            line=lineno,
            links=title_links,
        )
        if self.doc.lang == "en":
            item.title_en = title
        else:
            item.title_zh = title
        if url:
            link = _make_link(url, title)
            item.url = url
            item.canonical_url, item.repo_key, item.host = (
                link.canonical_url,
                link.repo_key,
                link.host,
            )
            if link.canonical_url is None:
                self.doc.problems.append(
                    Problem(
                        self.doc.name,
                        lineno,
                        f"item link is not a valid http(s) URL: {url}",
                        "warning",
                    )
                )
        self.item = item

    # sections ------------------------------------------------------------------------
    def close_section(self) -> None:
        self.close_item()
        if self.paragraph_section and self.section is not None:
            self._paragraph_item()
        self.paragraph_section = False
        self.section_text = []

    def _paragraph_item(self) -> None:
        lines = self.section_text
        text = "\n".join(lines)
        if not _plain(text):
            return
        assert self.section is not None
        title = _paragraph_title(text, self.section)
        position = self.positions.get(self.section, 0) + 1
        self.positions[self.section] = position
        item = Item(
            section=self.section,
            section_raw=self.section_raw,
            position=position,
            style="paragraph",
            line=self.section_line,
        )
        self.item, self.item_lines = item, lines
        if self.doc.lang == "en":
            item.title_en = title
        else:
            item.title_zh = title
        self.close_item()

    def start_section(self, section: str, raw: str, lineno: int) -> None:
        self.close_section()
        self.section = section
        self.section_raw = raw
        self.section_line = lineno
        self.last_number = None
        self.implicit = False
        self.skipping = False
        self.paragraph_section = section in ("book", "other")
        if section in LISTED_SECTIONS:
            self.listed_headings += 1

    def item_line(self, line: str, lineno: int, after_text: bool = False) -> bool:
        """Start an item when `line` is an item marker (numbered or circled, also as a
        list entry: `- ① title`); else False."""
        stripped = _BULLET.sub("", line.strip(), count=1)
        circled = _circled_number(stripped[:1]) if stripped else None
        numbered = self.item is not None and self.item.style == "numbered"
        if circled is not None and stripped[1:].strip() and not numbered:
            if self.section is None:
                self.start_section("article", "", lineno)
                self.implicit = True
            elif self.implicit and circled <= (self.last_number or 0):
                # A title-only list restarting at ① without a heading: the next section.
                order = LISTED_SECTIONS
                nxt = order[min(order.index(self.section) + 1, len(order) - 1)]
                self.start_section(nxt, "", lineno)
                self.implicit = True
            self.paragraph_section = False
            self.section_text = []
            self.start_item(stripped[1:], circled, "circled", lineno)
            return True
        m = _NUMBERED.match(line)
        if m is None or self.section is None:
            return False
        number, rest = int(m.group(1)), m.group(2).strip()
        last = self.last_number
        linked = rest.startswith(("[", "《["))
        if after_text and not linked and (self.item is None or _has_text(self.item_lines)):
            return False  # `2. 第二点` right under `1. 第一点`: a list inside a summary
        # A number out of sequence is a list inside a summary, unless it opens with a link
        # or skips at most two numbers (an item lost by the translator).
        if not rest or not (
            last is None or last < number <= last + 3 or (number > last and linked)
        ):
            return False
        self.paragraph_section = False
        self.section_text = []
        self.start_item(rest, number, "numbered", lineno)
        return True

    # lines ---------------------------------------------------------------------------
    def text_line(self, line: str) -> None:
        if self.section == BOILERPLATE or self.section is None or self.skipping:
            return
        if self.item is not None:
            self.item_lines.append(line)
        elif self.paragraph_section:
            self.section_text.append(line)


def _has_text(lines: list[str]) -> bool:
    return any(line.strip() for line in lines)


def _paragraphs(lines: list[str]) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    for line in lines:
        stripped = line.strip()
        stripped = re.sub(r"^>\s?", "", stripped)
        if not stripped or re.fullmatch(r"!\[[^\]]*\]\([^)]*\)", stripped):
            if current:
                out.append(" ".join(current))
                current = []
            continue
        if current and re.match(r"([-*+]|\d{1,2}[.、)])\s", stripped):
            out.append(" ".join(current))  # a list entry starts its own line
            current = []
        current.append(stripped)
    if current:
        out.append(" ".join(current))
    return out


def _title_and_url(rest: str) -> tuple[str, str | None, list[Link]]:
    """Split the rest of an item line into its title, primary URL and other links."""
    rest = rest.strip()
    rest = re.sub(r"^\*\*(.*?)\*\*", r"\1", rest)
    links = [lk for lk in _scan_links(rest) if not lk.image]
    lead = rest[: links[0].start] if links else ""
    if links and re.fullmatch(r"[\s《「“\"*]*", lead):
        # Adjacent links are one title: `[pybites：](u)[定期重构的重要性](u)`, and
        # `[core.py](http://core.py/)[ Ep 10：…](u)` where an editor auto-linked a name.
        n = 1
        while n < len(links) and not rest[links[n - 1].end : links[n].start].strip():
            n += 1
        run = links[:n]
        title = "".join(_plain(lk.text) for lk in run).strip() or run[0].url
        primary = next((lk for lk in run if not _autolinked(lk)), run[0])
        others = [
            _make_link(lk.url, lk.text)
            for lk in links
            if lk.url and lk.url != primary.url and (lk not in run or lk.url != primary.url)
        ]
        return title, primary.url or None, others
    bare = [lk for lk in links if _plain(lk.text).rstrip("/") == lk.url.rstrip("/")]
    if bare and not rest[bare[0].end :].strip(" （）()英文English"):
        # `Title [https://…](https://…)`: the title first, its URL spelled out after it.
        first = bare[0]
        title = _plain(rest[: first.start]).rstrip(" ：:-—")
        others = [_make_link(lk.url, lk.text) for lk in links if lk is not first and lk.url]
        return title, first.url, others
    title = _plain(rest)
    title = re.sub(r"[：:]\s*$", "", title).strip()
    return title, None, [_make_link(lk.url, lk.text) for lk in links if lk.url]


def _autolinked(link: _MdLink) -> bool:
    """True for `[core.py](http://core.py/)`: a name an editor turned into a link."""
    text = _plain(link.text).strip().lower().rstrip("/")
    target = re.sub(r"^https?://(www\.)?", "", link.url.strip().lower()).rstrip("/")
    return bool(text) and text == target


def _paragraph_title(text: str, section: str) -> str:
    """The name a sponsor / book paragraph is about: 《book》 first for books, else bold."""
    plain_bold = [
        _plain(m.group(1)) for m in re.finditer(r"\*\*(.+?)\*\*", text) if _plain(m.group(1))
    ]
    plain_bold = [b for b in plain_bold if not re.fullmatch(r"[\d\s月日号.]+", b)]
    plain_bold += [
        _plain(m.group(1)) for m in re.finditer(r"(?<![*\w])\*([^*\s][^*]*)\*(?!\*)", text)
    ]
    books = [_plain(m.group(0)) for m in re.finditer(r"《[^》]+》", text)]
    order = (books, plain_bold) if section == "book" else (plain_bold, books)
    for candidates in order:
        if candidates:
            title = candidates[0]
            return title.strip("《》") if section != "book" else title
    links = [lk for lk in _scan_links(text) if not lk.image]
    if links:
        return _plain(links[0].text)
    first = _paragraphs(text.splitlines())
    return _plain(first[0])[:60] if first else ""


def _front_matter(
    lines: list[str], name: str, problems: list[Problem]
) -> tuple[dict[str, str], int]:
    """Parse `---` front matter; return (fields, index of the first body line)."""
    if not lines or lines[0].strip() != "---":
        return {}, 0
    if not any(line.strip() in ("---", "...") for line in lines[1:]):
        problems.append(Problem(name, 1, "front matter is not closed by a `---` line"))
        return {}, len(lines)
    fields: dict[str, str] = {}
    for idx in range(1, len(lines)):
        line = lines[idx]
        if line.strip() in ("---", "..."):
            return fields, idx + 1
        if not line.strip() or line.lstrip().startswith("#") or line[:1] in (" ", "\t", "-"):
            continue  # blank, comment, list entry or continuation of the previous key
        m = _FRONT_KEY.match(line)
        if not m:
            problems.append(
                Problem(
                    name, idx + 1, f"front matter line is not `key: value`: {line.strip()[:60]!r}"
                )
            )
            continue
        value = _unquote_yaml(m.group(2))
        if value is None:
            problems.append(
                Problem(name, idx + 1, f"front matter value has an unclosed quote: {m.group(1)}")
            )
            continue
        fields[m.group(1)] = value
    return fields, len(lines)  # not reached: the closing line exists


def _issue_no_of(text: str | None) -> int | None:
    if not text:
        return None
    m = _ISSUE_NO.search(text)
    return int(m.group(1)) if m else None


def parse_markdown(text: str, name: str = "<text>", lang: str = "zh") -> ParsedDoc:
    """Parse one issue file (zh original or en translation) into a ParsedDoc.

    Never raises on bad input: problems are collected in `doc.problems` (severity
    `error` when the file cannot be used, `warning` for an unknown section and the like).
    A code fence the file ends inside is a stray line, read as text (with a warning).
    `pubDate` may be `2025-01-18`, `2025年1月18日` or any form the crawler reads (`Jan 18,
    2025`, `18 January 2025`, RFC 822: `crawler.text.parse_local_date`); one that cannot be
    read is a warning and leaves `pub_date` to the H1 (or None: `parse_issue` then takes
    the file name's date, else the translation's).
    """
    doc = ParsedDoc(name=name, lang=lang)
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    fields, body_start = _front_matter(lines, name, doc.problems)
    if doc.failed:
        return doc
    doc.title = fields.get("title") or None
    date_field = fields.get("pubDate") or fields.get("pubdate") or fields.get("date")
    if date_field:
        date_line = next(
            (
                i + 1
                for i, ln in enumerate(lines[:body_start])
                if re.match(r"(pubDate|pubdate|date)\s*:", ln)
            ),
            1,
        )
        try:
            doc.pub_date = _parse_date(date_field) or parse_local_date(date_field)
            wrong = "not a date"
        except ValueError:
            wrong = "not a valid date"
        if doc.pub_date is None:  # parse_issue looks for the date elsewhere
            problem = f"pubDate is {wrong}: {date_field!r}; ignored"
            doc.problems.append(Problem(name, date_line, problem, "warning"))
    doc.issue_no = _issue_no_of(doc.title)

    b = _Builder(doc)
    stray = _stray_fences(lines, body_start)
    for idx, why in stray.items():
        doc.problems.append(Problem(name, idx + 1, f"code fence {why}; read as text", "warning"))
    in_fence = False
    h1_seen = False
    issue_headings = 0
    for idx in range(body_start, len(lines)):
        lineno = idx + 1
        line = lines[idx]
        if _FENCE.match(line) and idx not in stray:
            in_fence = not in_fence
            b.text_line(line)
            continue
        if in_fence:
            b.text_line(line)
            continue
        heading = _HEADING.match(line)
        if heading and heading.group(2):
            level = len(heading.group(1))
            raw = heading.group(2)
            if level == 1 and not h1_seen and b.section is None:
                h1_seen = True
                _use_h1(doc, raw, lineno)
                continue
            if _is_issue_heading(raw):
                issue_headings += 1  # `## [第9期（2023-07-01）](…)`: a compilation's part
            kind = classify_heading(raw)
            if kind or level <= 2:
                if not kind:
                    kind = "other"
                    b.unknown.append(
                        Problem(
                            name,
                            lineno,
                            f"unknown section heading {_plain(raw)[:60]!r} read as other",
                            "warning",
                        )
                    )
                b.start_section(kind, _section_raw(raw), lineno)
                continue
            b.text_line(line)
            continue
        bold = _BOLD_LINE.match(line)
        if bold and len(bold.group(1)) <= 30 and "](" not in bold.group(1):
            # `**🦄文章&教程**` on its own line: a heading in the title-only issues.
            kind = classify_heading(bold.group(1))
            circled = b.item is not None and b.item.style == "circled"
            if kind in LISTED_SECTIONS or (kind == BOILERPLATE and circled):
                b.start_section(kind, _section_raw(bold.group(1)), lineno)
                continue
        if named := _named_section(line):  # `🦄文章&教程` as a plain line, a bold link
            b.start_section(named, _section_raw(line).rstrip(":："), lineno)
            continue
        if _HR.match(line):
            continue
        after_text = idx > body_start and bool(lines[idx - 1].strip())
        if b.section != BOILERPLATE and b.item_line(line, lineno, after_text):
            continue
        b.text_line(line)
    b.close_section()
    doc.problems.extend(b.unknown)
    listed = {it.section for it in doc.items} & set(LISTED_SECTIONS)
    if issue_headings >= 2 or b.listed_headings > 2 * len(LISTED_SECTIONS):
        doc.compilation = True
    if not listed or doc.compilation:
        # An essay (or a compilation): its headings are not sections, its text no items.
        doc.items = []
        doc.problems = [p for p in doc.problems if p not in b.unknown]
    return doc


def _stray_fences(lines: list[str], start: int) -> dict[int, str]:
    """Fences to read as text, with why: one the file ends inside, and one whose block
    would hold a section heading of the issue. Read as a fence, either would swallow the
    items after it; read as text, it costs nothing. Fences pair as CommonMark pairs them
    (one with an info string, ```python, only opens)."""
    stray: dict[int, str] = {}
    while True:
        opener: int | None = None
        mark = ""
        found: tuple[int, str] | None = None
        for idx in range(start, len(lines)):
            fence = _FENCE.match(lines[idx])
            if fence is None or idx in stray:
                continue
            if opener is None:
                opener, mark = idx, fence.group(1)[0]
            elif lines[idx].strip().strip(mark) == "":  # a bare fence of its kind closes
                heading = next(
                    (i for i in range(opener + 1, idx) if _is_section_line(lines[i])), None
                )
                if heading is not None:
                    found = (opener, f"would hold the section heading of line {heading + 1}")
                    break
                opener = None
        else:
            if opener is not None:
                found = (opener, "never closed")
        if found is None:
            return stray
        stray[found[0]] = found[1]


def _is_section_line(line: str) -> bool:
    """A line that starts a section of the issue: `## [🦄文章&教程](…)`, `**🐿️项目&资源**`
    (an H2, never `# comment` in a code block)."""
    heading = _HEADING.match(line)
    if heading and heading.group(2) and heading.group(1) == "##":
        return classify_heading(heading.group(2)) in LISTED_SECTIONS
    bold = _BOLD_LINE.match(line)
    return bool(bold and classify_heading(bold.group(1)) in LISTED_SECTIONS) or bool(
        _named_section(line)
    )


def _is_issue_heading(raw: str) -> bool:
    return bool(re.search(r"第\s*\d+\s*期|weekly\s*#?\s*\d+|#\s*\d+", _plain(raw), re.I))


def _use_h1(doc: ParsedDoc, raw: str, lineno: int) -> None:
    """The H1 gives the title, number and date when the front matter does not."""
    h1 = _plain(raw)
    if doc.title is None:
        doc.title = h1
    if doc.issue_no is None:
        doc.issue_no = _issue_no_of(h1)
    if doc.pub_date is None:
        try:
            doc.pub_date = _parse_date(h1)
        except ValueError:
            doc.problems.append(
                Problem(doc.name, lineno, f"date in the title is not valid: {h1[:60]!r}")
            )


# --- one issue: zh + en -------------------------------------------------------------------


def _file_date(name: str) -> dt.date | None:
    try:
        return _parse_date(Path(name).name)
    except ValueError:
        return None


def _file_issue_no(name: str) -> int | None:
    stem = Path(name).stem
    m = re.fullmatch(r"(?:weekly|issue|no)?[-_]?(\d{1,4})(?:[-_](?:weekly|issue))?", stem, re.I)
    return int(m.group(1)) if m else None


def content_hash(zh: bytes, en: bytes | None) -> str:
    """Hash of what an issue is made of (both files and the parser version)."""
    h = hashlib.sha256(PARSER_VERSION.encode())
    h.update(b"\0zh\0" + zh)
    h.update(b"\0en\0" + (en or b""))
    return h.hexdigest()


def parse_issue(
    zh_text: str,
    en_text: str | None = None,
    *,
    zh_name: str = "<zh>",
    en_name: str | None = None,
    digest: str = "",
) -> tuple[Issue | None, Skipped | None, list[Problem]]:
    """Parse a zh original and its optional en translation into one Issue.

    Returns (issue, None, problems) for an issue (kind full, title_only or special), or
    (None, Skipped, problems) for a season compilation, or (None, None, problems) when the
    file cannot be used (problems then holds at least one error).
    """
    zh = parse_markdown(zh_text, zh_name, "zh")
    problems = list(zh.problems)
    if zh.failed:
        return None, None, problems
    # A compilation's title names a season, not an issue number ('第一季精华合集（1~30）').
    by_title = zh.issue_no is None and _COMPILATION.search(zh.title or "")
    if zh.compilation or by_title or "sweekly" in Path(zh_name).name.lower():
        return (
            None,
            Skipped(zh_name, "season compilation (re-lists earlier items), not an issue"),
            problems,
        )
    en = parse_markdown(en_text, en_name or "<en>", "en") if en_text is not None else None
    if en is not None:
        # A broken translation costs its English text, not the issue.
        problems.extend(
            replace(p, severity="warning") if p.severity == "error" else p for p in en.problems
        )
        if en.failed:
            en = None
    issue_no = zh.issue_no or _file_issue_no(zh_name) or (en.issue_no if en else None)
    pub_date = zh.pub_date or _file_date(zh_name) or (en.pub_date if en else None)
    if issue_no is None:
        problems.append(Problem(zh_name, 1, "no issue number in front matter, title or file name"))
    if pub_date is None:
        problems.append(
            Problem(zh_name, 1, "no publication date in front matter, title or file name")
        )
    if issue_no is None or pub_date is None:
        return None, None, problems
    if en is not None and en.issue_no is not None and en.issue_no != issue_no:
        problems.append(
            Problem(
                en.name,
                1,
                f"translation is of issue #{en.issue_no}, not #{issue_no}; ignored",
                "warning",
            )
        )
        en = None
    items = zh.items
    if en is not None:
        _attach_english(items, en.items)
    if not items:
        kind = "special"
    elif all(it.url is None for it in items) and any(it.style == "circled" for it in items):
        kind = "title_only"
    else:
        kind = "full"
    issue = Issue(
        issue_no=issue_no,
        pub_date=pub_date,
        title=zh.title,
        title_en=en.title if en else None,
        kind=kind,
        file=zh_name,
        en_file=en.name if en else None,
        content_hash=digest,
        items=items,
        problems=problems,
    )
    return issue, None, problems


def _attach_english(items: list[Item], en_items: list[Item]) -> None:
    """Give zh items their English title/summary: by canonical URL, else section+position."""
    by_url: dict[str, int] = {}
    by_slot: dict[tuple[str, int], int] = {}
    for idx, en in enumerate(en_items):
        if en.canonical_url:
            by_url.setdefault(en.canonical_url, idx)
        by_slot.setdefault((en.section, en.position), idx)
    claimed: set[int] = set()
    pending: list[Item] = []
    for item in items:
        idx = by_url.get(item.canonical_url) if item.canonical_url else None
        if idx is not None and idx not in claimed:
            claimed.add(idx)
            _copy_en(item, en_items[idx])
        else:
            pending.append(item)
    for item in pending:
        idx = by_slot.get((item.section, item.position))
        if idx is None or idx in claimed:
            continue
        en = en_items[idx]
        if en.canonical_url and en.canonical_url in {i.canonical_url for i in items}:
            continue  # that translation belongs to another zh item
        claimed.add(idx)
        _copy_en(item, en)


def _copy_en(item: Item, en: Item) -> None:
    item.title_en = en.title_en
    item.summary_en = en.summary_en


# --- the archive ------------------------------------------------------------------------


def docs_dir(path: Path) -> Path:
    """The folder of an archive's issue files: `docs/` under `path`, else `path` itself."""
    docs = path / "docs"
    return docs if docs.is_dir() else path


def _decode(data: bytes, name: str) -> tuple[str | None, Problem | None]:
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, Problem(name, line, f"not UTF-8 text (byte {exc.start}): {exc.reason}")


def read_archive(path: str | Path) -> tuple[list[Issue], list[Skipped], list[Problem]]:
    """Read and parse an archive folder (the root holding docs/, or docs/ itself).

    Files that cannot be used are problems; the others are still returned. Issues are
    sorted by number; a second file claiming an issue number is a problem.
    """
    root = Path(path)
    docs = docs_dir(root)
    if not docs.is_dir():
        return [], [], [Problem(str(root), 0, "archive folder does not exist")]
    if not any(docs.glob("*.md")):
        return [], [], [Problem(str(docs), 0, "no issue files (*.md): is this the archive?")]
    en_dir = docs / "en"
    base = root if docs != root else docs.parent

    def rel(p: Path) -> str:
        try:
            return p.relative_to(base).as_posix()
        except ValueError:
            return p.as_posix()

    issues: dict[int, Issue] = {}
    skipped: list[Skipped] = []
    problems: list[Problem] = []
    used_en: set[Path] = set()
    for zh_path in sorted(docs.glob("*.md")):
        zh_name = rel(zh_path)
        try:
            zh_bytes = zh_path.read_bytes()
        except OSError as exc:
            problems.append(Problem(zh_name, 0, f"cannot read: {exc.strerror or exc}"))
            continue
        zh_text, problem = _decode(zh_bytes, zh_name)
        if problem:
            problems.append(problem)
            continue
        en_path = en_dir / zh_path.name
        en_bytes = en_text = en_name = None
        if en_path.is_file():
            used_en.add(en_path)
            en_name = rel(en_path)
            en_bytes = en_path.read_bytes()
            en_text, problem = _decode(en_bytes, en_name)
            if problem:
                problems.append(replace(problem, severity="warning"))
                en_name = en_bytes = None
        digest = content_hash(zh_bytes, en_bytes)
        assert zh_text is not None
        issue, skip, found = parse_issue(
            zh_text, en_text, zh_name=zh_name, en_name=en_name, digest=digest
        )
        problems.extend(found)
        if skip:
            skipped.append(skip)
            if en_name:
                skipped.append(Skipped(en_name, "translation of a season compilation"))
            continue
        if issue is None:
            continue
        if issue.issue_no in issues:
            problems.append(
                Problem(
                    zh_name,
                    1,
                    f"issue #{issue.issue_no} is already in {issues[issue.issue_no].file}; "
                    "file ignored",
                )
            )
            continue
        issues[issue.issue_no] = issue
    if en_dir.is_dir():
        for en_path in sorted(en_dir.glob("*.md")):
            if en_path not in used_en:
                skipped.append(Skipped(rel(en_path), "English file without a Chinese original"))
    return [issues[k] for k in sorted(issues)], skipped, problems


def _rows(
    issue: Issue,
) -> tuple[dict[str, object], list[dict[str, object]], list[dict[str, object]]]:
    issue_row: dict[str, object] = {
        "issue_no": issue.issue_no,
        "pub_date": issue.pub_date,
        "title": issue.title,
        "title_en": issue.title_en,
        "kind": issue.kind,
        "file": issue.file,
        "en_file": issue.en_file,
        "content_hash": issue.content_hash,
        "n_items": len(issue.items),
    }
    items: list[dict[str, object]] = []
    links: list[dict[str, object]] = []
    for item_no, item in enumerate(issue.items, start=1):
        items.append(
            {
                "issue_no": issue.issue_no,
                "item_no": item_no,
                "section": item.section,
                "section_raw": item.section_raw,
                "position": item.position,
                "title_zh": item.title_zh,
                "title_en": item.title_en,
                "summary_zh": item.summary_zh,
                "summary_en": item.summary_en,
                "url": item.url,
                "canonical_url": item.canonical_url,
                "repo_key": item.repo_key,
                "host": item.host,
            }
        )
        for link_no, link in enumerate(item.links, start=1):
            links.append(
                {
                    "issue_no": issue.issue_no,
                    "item_no": item_no,
                    "link_no": link_no,
                    "url": link.url,
                    "canonical_url": link.canonical_url,
                    "repo_key": link.repo_key,
                    "host": link.host,
                    "text": link.text,
                }
            )
    return issue_row, items, links


def import_archive(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
) -> ImportReport:
    """Import an archive folder into the store; idempotent, one transaction per issue.

    Unchanged issues (same content hash) are left alone; an edited file replaces its
    issue's rows. Files that cannot be used are listed in `report.problems` (the others
    are imported).
    """
    issues, skipped, problems = read_archive(path)
    report = ImportReport(skipped=skipped, problems=problems)
    known = store.history_issue_hashes(con)
    for issue in issues:
        # An essay is no issue of items, but its number and date are stored: `rank --week`
        # of its week ranks as of that day, and a backtest notes it has nothing to replay.
        essay = issue.kind == "special"
        if essay:
            report.special.append(issue.issue_no)
            reason = f"no items (an essay, #{issue.issue_no}), not counted as an issue"
            report.skipped.append(Skipped(issue.file, reason))
        if known.get(issue.issue_no) == issue.content_hash:
            if not essay:
                report.unchanged.append(issue.issue_no)
            continue
        issue_row, items, links = _rows(issue)
        store.replace_history_issue(con, issue_row, items, links)
        if not essay:
            report.imported.append(issue.issue_no)
        report.items += len(items)
        report.links += len(links)
    for problem in report.problems:  # the caller reports them (one line each)
        logger.info("%s: %s", problem.severity, problem)
    return report
