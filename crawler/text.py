"""Text hygiene for untrusted strings: clean titles and summaries, HTML to text, dates.

Everything a parser stores goes through here, so that no lone surrogate, C0 control
or unflagged bidi control reaches the raw files (RELIABILITY P10, P11, P14, G13, G14).
"""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from email.utils import parsedate_tz

__all__ = [
    "DATE_FLOOR",
    "SUMMARY_MAX",
    "TITLE_MAX",
    "clean_text",
    "clean_text_flagged",
    "html_to_text",
    "parse_date",
    "parse_iso_utc",
    "parse_local_date",
    "remove_unsafe",
    "title_text",
    "unescape_refs",
]

TITLE_MAX = 500
SUMMARY_MAX = 1000
ELLIPSIS = "…"
# Nothing on the Python web we care about predates this; earlier dates are bugs.
DATE_FLOOR = datetime(1995, 1, 1, tzinfo=UTC)

# Lone surrogates: a Python str can hold them, UTF-8 cannot.
_SURROGATES = re.compile(r"[\ud800-\udfff]")
# The characters no stored or shown text keeps, what each becomes and the flag it raises:
# the one rule for the crawler's text and for ranking.csvio's cells (`remove_unsafe`).
_UNSAFE = (
    (_SURROGATES, "", "surrogates"),
    # C0 controls except \t and \n, DEL and C1 controls: invisible, never meant in a title.
    (re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]"), " ", "controls"),
    # Embedding/override (U+202A-202E) and isolate (U+2066-2069) controls can reorder
    # what the curator sees (Trojan Source).
    (re.compile(r"[\u202a-\u202e\u2066-\u2069]"), "", "bidi"),
    # Zero-width space and a stray BOM: invisible, and they break duplicate detection.
    (re.compile(r"[\u200b\ufeff]"), "", "zero_width"),
)
_SPACES = re.compile(r"\s+")
_INNER_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


# Everything the single-line cleaning would change or flag, apart from NFC, length and
# edge spaces (checked separately): whitespace other than one space, controls, zero-width
# and bidi characters, U+FFFD, lone surrogates.
_NOT_CLEAN = re.compile(
    r"[^\S ]|  |[\x00-\x1f\x7f-\x9f\u200b\u202a-\u202e\u2066-\u2069\ufeff\ufffd\ud800-\udfff]"
)


def _already_clean(s: str, max_len: int | None) -> bool:
    """True when single-line cleaning would return `s` unchanged and unflagged.

    Most text is cleaned twice (by its parser, then by the pipeline), so the second time
    takes this cheap check instead of the full pass (PERFORMANCE.md F12; a property test
    compares it with `_clean_flagged`)."""
    return (
        (max_len is None or len(s) <= max_len)
        and not s.startswith(" ")
        and not s.endswith(" ")
        and not _NOT_CLEAN.search(s)
        and unicodedata.is_normalized("NFC", s)
    )


def clean_text_flagged(
    s: str | None, max_len: int | None = TITLE_MAX, *, single_line: bool = True
) -> tuple[str, frozenset[str]]:
    """Clean `s` and say what was wrong with it.

    NFC-normalizes; removes lone surrogates, C0/C1 controls (keeps ``\\t``/``\\n`` unless
    `single_line`), bidi controls and zero-width spaces; collapses whitespace (all of it
    for titles, runs within a line otherwise); truncates to `max_len` characters with an
    ellipsis. Flags: ``surrogates``, ``controls``, ``bidi``, ``zero_width``,
    ``replacement_char`` (U+FFFD: a decoding problem upstream), ``truncated``.
    """
    if not s or not isinstance(s, str):
        return "", frozenset()
    if single_line and _already_clean(s, max_len):
        return s, frozenset()
    return _clean_flagged(s, max_len, single_line)


def remove_unsafe(s: str) -> tuple[str, frozenset[str]]:
    """`s` without lone surrogates, bidi controls and zero-width characters, its C0/C1
    controls (but ``\\t`` and ``\\n``) and DEL turned into spaces; and the flags of what was
    there (``surrogates``, ``controls``, ``bidi``, ``zero_width``). Nothing else changes."""
    flags = set()
    for pattern, replacement, flag in _UNSAFE:
        s, found = pattern.subn(replacement, s)
        if found:
            flags.add(flag)
    return s, frozenset(flags)


def _clean_flagged(s: str, max_len: int | None, single_line: bool) -> tuple[str, frozenset[str]]:
    """The full cleaning pass of `clean_text_flagged` (a non-empty string)."""
    flags: set[str] = set()
    if max_len is not None and len(s) > max_len * 8 + 1024:
        # A 10 MB title: only the head can survive, so don't normalize the rest.
        s = s[: max_len * 8 + 1024]
        flags.add("truncated")
    s, unsafe = remove_unsafe(s)
    flags |= unsafe
    s = unicodedata.normalize("NFC", s)
    if "\ufffd" in s:
        flags.add("replacement_char")
    if single_line:
        s = _SPACES.sub(" ", s).strip()
    else:
        s = s.replace("\r\n", "\n").replace("\r", "\n")
        s = _INNER_SPACES.sub(" ", s)
        s = _BLANK_LINES.sub("\n\n", s)
        s = "\n".join(line.strip() for line in s.split("\n")).strip()
    if max_len is not None and len(s) > max_len:
        s = s[: max(max_len - 1, 0)].rstrip() + ELLIPSIS
        flags.add("truncated")
    return s, frozenset(flags)


def truncate(s: str, max_len: int) -> str:
    """`s`, or its first `max_len - 1` characters and an ellipsis (nothing stripped)."""
    return s if len(s) <= max_len else s[: max_len - 1] + ELLIPSIS


def clean_text(s: str | None, max_len: int | None = TITLE_MAX, *, single_line: bool = True) -> str:
    """`clean_text_flagged` without the flags: the cleaned, possibly truncated string."""
    return clean_text_flagged(s, max_len, single_line=single_line)[0]


_DROP_TAGS = ("script", "style", "noscript", "template", "iframe", "object", "svg", "head")
_BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "pre",
        "blockquote",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "table",
        "section",
        "article",
        "header",
        "footer",
        "figure",
        "figcaption",
        "hr",
        "dd",
        "dt",
    ]
)
_TAG_HINT = re.compile(r"<[A-Za-z/!?]")
# Summaries only need their first ~1000 characters; parsing 1.8 MB of article HTML
# per entry would dominate the feed path.
_HTML_INPUT_CAP = 100_000


def html_to_text(fragment: str | None, max_len: int | None = SUMMARY_MAX) -> str:
    """Plain text of an HTML fragment (feed summary, meta description), cleaned.

    Scripts, styles and embedded objects are dropped; block elements become line
    breaks; entities are decoded. The result is text, never markup.
    """
    if not fragment or not isinstance(fragment, str):
        return ""
    fragment = fragment[:_HTML_INPUT_CAP]
    text = html.unescape(fragment) if not _TAG_HINT.search(fragment) else _lxml_text(fragment)
    return clean_text(text, max_len, single_line=True)


# A character reference closed by its semicolon: `&amp;`, `&#39;`, `&#x2F;`. Legacy
# references without one (`&copy`) are left alone: in a URL, `?a=1&copy=2` is a parameter.
_CHARREF = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def unescape_refs(s: str) -> str:
    """Decode the character references of a string that was HTML-escaped (once).

    For values a source escapes although they are not HTML: Reddit's JSON fields and
    the hrefs of its Atom content (`?a=1&amp;utm_source=x`)."""
    if "&" not in s:
        return s
    return _CHARREF.sub(lambda m: html.unescape(m.group(0)), s)


# Markup a title may carry: inline formatting only. A tag outside this set (`<script>`
# in a security story, `List<int>`) means the title is text that mentions a tag.
_TITLE_TAGS = frozenset(
    {"a", "abbr", "b", "bdi", "big", "br", "cite", "code", "del", "dfn", "em", "font", "i"}
    | {"ins", "kbd", "mark", "q", "s", "samp", "small", "span", "strike", "strong", "sub"}
    | {"sup", "tt", "u", "var", "wbr"}
)
_VOID_TAGS = frozenset({"br", "wbr"})
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)(?:\s[^<>]*)?/?>")


def title_text(raw: str | None) -> str | None:
    """A feed title as text: HTML reduced to text when the title is HTML.

    Atom `type="html"` titles (jekyll-feed writes every title so), RSS titles carrying
    markup, and titles escaped twice (`Tricks &amp;amp; Features`) are HTML; which backend
    read the feed does not tell, so the title itself decides. Its character references
    are decoded; its tags are dropped only when every `<` opens a well-formed inline tag
    and every such tag is closed (`Using <code>nbdev</code>`). A title that merely
    mentions a tag (`<script>` in a security story, `List<int>`, `if a<b:`) keeps its
    text verbatim (RELIABILITY P9)."""
    if not raw or ("&" not in raw and "<" not in raw):
        return raw
    if "<" in raw and _inline_markup(raw):
        return html_to_text(raw, None)
    return unescape_refs(raw)


def _inline_markup(text: str) -> bool:
    """Every `<` opens a well-formed inline tag, and every one opened is closed."""
    tags = _TAG.findall(text)
    if len(tags) != text.count("<"):
        return False
    balance: dict[str, int] = {}
    for closing, name in tags:
        name = name.lower()
        if name not in _TITLE_TAGS:
            return False
        if name not in _VOID_TAGS:
            balance[name] = balance.get(name, 0) + (-1 if closing else 1)
    return not any(balance.values())


def _lxml_text(fragment: str) -> str:
    from lxml import etree
    from lxml import html as lxml_html

    try:
        # Strip what lxml rejects in a str (surrogates, NUL) before it sees it.
        fragment = _SURROGATES.sub("", fragment).replace("\x00", "")
        root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return html.unescape(re.sub(r"<[^>]*>", " ", fragment))
    etree.strip_elements(root, *_DROP_TAGS, etree.Comment, with_tail=False)
    parts: list[str] = []
    for event, el in etree.iterwalk(root, events=("start", "end")):
        tag = el.tag if isinstance(el.tag, str) else ""
        if event == "start":
            if tag in _BLOCK_TAGS:
                parts.append("\n")
            if el.text:
                parts.append(el.text)
        else:
            if tag in _BLOCK_TAGS:
                parts.append("\n")
            if el.tail and el is not root:
                parts.append(el.tail)
    return "".join(parts)


# --- dates -----------------------------------------------------------------------------

_ISO = re.compile(
    r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[T ](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<frac>[.,]\d+)?)?)?"
    r"\s*(?P<tz>Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$"
)
_EPOCH = re.compile(r"^\d{9,10}(?:\.\d+)?$")
_EPOCH_MS = re.compile(r"^\d{13}$")
_LOOSE_FORMATS = (
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%b %d %Y",
    "%b %d, %Y",
    "%B %d %Y",
    "%B %d, %Y",
    "%d %b %Y",
    "%d %B %Y",
    "%Y%m%d",
)
_MAX_DATE_CHARS = 80


def parse_date(raw: object, now: datetime | None = None) -> tuple[str | None, str | None]:
    """Parse a source's date string into ``(iso_utc, flag)``.

    `iso_utc` is ``YYYY-MM-DDTHH:MM:SSZ`` or None; `flag` is None (ok), ``"missing"``,
    ``"unparsed"`` (not a date we can read without guessing: ``2024-13-01`` and
    ``2024-02-30`` are never rolled over) or ``"out_of_range"`` (before 1995 or after
    now + 1 day). Epoch seconds (and milliseconds) are read as such; RFC 822 and
    ISO-8601 dates without a zone are read as UTC. The caller keeps `raw` verbatim.
    """
    dt, flag = _checked_datetime(raw, now)
    if dt is None:
        return None, flag
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), None


def parse_local_date(raw: object, now: datetime | None = None) -> date | None:
    """The calendar day a date string gives, in its own zone, or None when `parse_date`
    flags it: `Sat, 18 Jan 2025 02:00:00 +0800` is 2025-01-18 (in UTC, the 17th)."""
    dt, _ = _checked_datetime(raw, now)
    return dt.date() if dt is not None else None


def parse_iso_utc(value: object) -> datetime | None:
    """Our own ISO-8601 timestamps (a record's ``fetched_at``, ``finished_at``, ...) as an
    aware UTC datetime; one without offset is UTC. None when `value` is not a string, is
    not ISO 8601, or has no UTC time (``0001-01-01T00:00:00+01:00``). Strict where
    `parse_date` is lenient: for the times we wrote, not for a source's dates."""
    if not isinstance(value, str):
        return None
    try:
        ts = datetime.fromisoformat(value)
        return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def _checked_datetime(raw: object, now: datetime | None) -> tuple[datetime | None, str | None]:
    """`raw` as a datetime in its own zone, or None and parse_date's flag."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, "missing"
    if isinstance(raw, bool):
        return None, "unparsed"
    try:
        dt = _to_datetime(raw)
        if dt is not None:
            dt.astimezone(UTC)  # its UTC time must exist too (not 0001-01-01T00:00+01:00)
    except (ValueError, OverflowError, TypeError):
        return None, "unparsed"
    if dt is None:
        return None, "unparsed"
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if dt < DATE_FLOOR or dt > now + timedelta(days=1):
        return None, "out_of_range"
    return dt, None


def _to_datetime(raw: object) -> datetime | None:
    """`raw` as an aware datetime in the zone it was written in (UTC when it has none)."""
    if isinstance(raw, int | float):
        return _from_epoch(float(raw))
    if not isinstance(raw, str):
        return None
    s = raw.strip()
    if len(s) > _MAX_DATE_CHARS:
        return None
    if _EPOCH.match(s):
        return _from_epoch(float(s))
    if _EPOCH_MS.match(s):
        return _from_epoch(int(s) / 1000)
    m = _ISO.match(s)
    if m:
        return _from_iso(m)
    if s[:1].isdigit() and "-" in s[:5] and s[:4].isdigit():
        return None  # looks like ISO but isn't: never hand it to a lenient parser
    dt = _from_rfc822(s)
    if dt is not None:
        return dt
    for fmt in _LOOSE_FORMATS:
        try:
            return datetime.strptime(s, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _from_epoch(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def _from_iso(m: re.Match[str]) -> datetime:
    frac = m["frac"]
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    # datetime() validates every field: month 13 or Feb 30 raise instead of rolling over.
    dt = datetime(
        int(m["y"]),
        int(m["m"]),
        int(m["d"]),
        int(m["H"] or 0),
        int(m["M"] or 0),
        int(m["S"] or 0),
        micro,
    )
    return dt.replace(tzinfo=timezone(_tz_offset(m["tz"])))


def _tz_offset(tz: str | None) -> timedelta:
    if not tz or tz.upper() in ("Z", "UTC", "GMT"):
        return timedelta(0)
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    hours = int(digits[:2])
    minutes = int(digits[2:4] or 0)
    if hours > 14 or minutes > 59:
        raise ValueError(f"bad UTC offset {tz}")
    return sign * timedelta(hours=hours, minutes=minutes)


def _from_rfc822(s: str) -> datetime | None:
    parts = parsedate_tz(s)
    if parts is None:
        return None
    year, month, day, hour, minute, second = parts[:6]
    if not (1 <= month <= 12):
        return None
    # parsedate_tz does not validate the day; datetime() does (no "Jun 31" rollover).
    # An unknown zone name gives offset None: read as UTC, as feeds mostly mean it.
    dt = datetime(year, month, day, hour, minute, second)
    offset = parts[9] or 0
    if abs(offset) > 14 * 3600:
        return None
    return dt.replace(tzinfo=timezone(timedelta(seconds=offset)))
