"""The curator's edited shortlist CSV -> decisions (pure: reads a file, no SQL).

`rank --week W` writes `data/shortlists/W.csv` (via `ranking.csvio.write_csv`); the curator
fills the `decision` column (and may change `section`, write a `note`) in a spreadsheet;
`rank feedback FILE` calls `parse_feedback`, then `validate_ids` with the ids the database
knows, and stores `result.decisions`. Every data row ends in exactly one place (G12,
"0 silent drops"): `decisions` (or a decision's `duplicate_rows`), `errors`, `blank_rows`
(an id without a decision) or `ignored_rows` (no id and nothing to apply).

Keys (RELIABILITY I8)
- Rows are identified by the `id` column only (e.g. `c-1a2b3c4d5e`). There is **no
  fallback to the URL or the title**: a spreadsheet may rewrite both (auto-hyperlinks,
  formulas saved as values), and a file without ids has been restructured beyond what we
  can match safely, so `id` is a required column. The `url` cell is still read and, when
  `validate_ids` is given an `{id: url}` mapping, a row whose URL disagrees with its id
  (columns sorted separately) becomes a row error instead of a wrong decision.
- Required columns: `id` and `decision`. Neither → "not a shortlist"; one missing →
  fail-fast naming it. Optional: `week`, `section`, `note`, `url`; all other columns
  (`rank`, `score`, `title`, …, extra ones the curator added) are ignored. Header names
  are matched after `csvio.normalize_header` (case, spaces, dashes, a leading `'`).

Decision vocabulary (`DECISION_VOCABULARY`; case-, width- and whitespace-insensitive,
one leading `'` stripped, emoji variation selectors ignored):
- keep: keep, k, accept, accepted, yes, y, ✓, ✔, ☑, ✅, x, +, 1, true, pick, picked, ok
- reject: reject, rejected, no, n, ✗, ✘, ✖, ❌, -, 0, false, drop, skip
- maybe: maybe, m, ?, later, hold
- clear: clear, undo, unset (removes a decision stored from an earlier file)
A blank decision is "no decision" (counted in `blank_rows`, not an error; a section or
note on such a row is not recorded, since only decisions are stored, and a decision
stored before for that id stands: `undecided` lets the caller say so). Anything else
is a row error. `?` in a file decoded from a legacy code page (cp1252, GBK, MacRoman…)
is a row error too: Excel writes every character the code page lacks, such as ✓ and ✗,
as `?`, so there `?` may be a lost tick rather than "maybe". A note there with `??` or
nothing but `?` and punctuation is a row error as well (`_damaged_note`): stored, it
would replace the curator's note with what the code page left of it.

Sections (`SECTION_ALIASES`): article, project, audio_video, hot_topic, plus common
variants (articles, projects, repo, tool, audio/video, audio & video, podcast, video,
hot topic, the newsletter's Chinese headings…). `Decision.section_override` is the
normalized section the row names (None when blank); the caller compares it with the
section it proposed. An unknown section is a row error (the decision is not applied).

A new shortlist of the same week carries the file's edits over (`previous_edits`): the
decisions by id (of rows whose link is their id's, as `validate_ids` checks), and what
it could not carry: edited rows (a decision or a note) it cannot hold, columns of the
curator's own with cells, and text in the columns `rank` writes (`TYPED_COLUMNS`: a
flag, a reason, a title…) changed from what it wrote (the order of the rows is no edit,
nor the numbers and dates a spreadsheet saves in its own form).

Rows, duplicates, weeks
- `row_number` is the row as the spreadsheet shows it: header = 1, a quoted multi-line
  note is one row.
- The same id twice with identical (decision, section, note): applied once, the other
  rows listed in `Decision.duplicate_rows`. With any difference: every row of that id is
  a row error and none is applied. A row with an error also blocks the other rows of its
  id (its intent is unknown). Rows of the same id with a blank decision do not count.
- `week` cells are normalized with `IsoWeek`; a file naming several weeks raises
  FeedbackError. A malformed week cell is a row error. A file without a `week` column is
  accepted (its ids are checked later).
- Empty file, header-only file, workbook renamed to `.csv`, files over 50 MB and
  undecodable files raise FeedbackError with one line naming the file.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from crawler.items import SECTIONS
from crawler.urls import InvalidURL, canonical_url, project_key
from ranking.csvio import (
    CsvMeta,
    CsvRow,
    clean_text,
    format_cell,
    normalize_header,
    read_csv_rows,
    unescape,
)
from ranking.errors import CsvFormatError, FeedbackError, UsageError, first_of
from ranking.weeks import IsoWeek

__all__ = [
    "CLEAR",
    "DECISION_VOCABULARY",
    "KEEP",
    "MAYBE",
    "REJECT",
    "REQUIRED_COLUMNS",
    "SECTION_ALIASES",
    "TYPED_COLUMNS",
    "Decision",
    "FeedbackResult",
    "PreviousEdits",
    "RowError",
    "normalize_decision",
    "normalize_section",
    "parse_feedback",
    "previous_edits",
    "validate_ids",
]

KEEP, REJECT, MAYBE, CLEAR = "keep", "reject", "maybe", "clear"

_KEEP_WORDS = "keep k accept accepted yes y ✓ ✔ ☑ ✅ x + 1 true pick picked ok"
_REJECT_WORDS = "reject rejected no n ✗ ✘ ✖ ❌ - 0 false drop skip"
_MAYBE_WORDS = "maybe m ? later hold"
_CLEAR_WORDS = "clear undo unset"

DECISION_VOCABULARY: dict[str, str] = {
    **dict.fromkeys(_KEEP_WORDS.split(), KEEP),
    **dict.fromkeys(_REJECT_WORDS.split(), REJECT),
    **dict.fromkeys(_MAYBE_WORDS.split(), MAYBE),
    **dict.fromkeys(_CLEAR_WORDS.split(), CLEAR),
}


_ARTICLE_WORDS = (
    "article articles post posts blog blog_post blog_posts tutorial tutorials news "
    "文章 教程 文章_教程"
)
_PROJECT_WORDS = (
    "project projects repo repos repository repositories tool tools library libraries "
    "lib libs open_source 项目 开源项目 工具 开源项目_工具 项目_工具"
)
_AUDIO_VIDEO_WORDS = (
    "audio_video audio_and_video audiovideo av audio video videos podcast podcasts "
    "talk talks youtube 音视频 音频 视频 播客"
)
_HOT_TOPIC_WORDS = (
    "hot_topic hot_topics hot hottopic hottopics topic topics discussion discussions "
    "热门话题 热门 话题"
)

SECTION_ALIASES: dict[str, str] = {
    **dict.fromkeys(_ARTICLE_WORDS.split(), "article"),
    **dict.fromkeys(_PROJECT_WORDS.split(), "project"),
    **dict.fromkeys(_AUDIO_VIDEO_WORDS.split(), "audio_video"),
    **dict.fromkeys(_HOT_TOPIC_WORDS.split(), "hot_topic"),
}

REQUIRED_COLUMNS = ("id", "decision")
_USED_COLUMNS = ("id", "decision", "week", "section", "note", "url")

_WHITESPACE = re.compile(r"\s+")
_VARIATION_SELECTORS = re.compile("[\ufe0e\ufe0f]")
_SECTION_SEPARATORS = re.compile(r"[\s\-/&+,_]+")


@dataclass(frozen=True)
class Decision:
    """One curator decision, from the row `row_number` of the spreadsheet."""

    id: str
    url: str | None
    decision: str  # KEEP, REJECT, MAYBE or CLEAR
    section_override: str | None  # normalized section the row names; None when blank
    note: str | None
    row_number: int
    duplicate_rows: tuple[int, ...] = ()  # identical rows of the same id, applied once


@dataclass(frozen=True)
class RowError:
    """A row that was not applied, and why (row numbers as the spreadsheet shows them)."""

    row_number: int
    reason: str
    id: str | None = None

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.reason}"


@dataclass(frozen=True)
class FeedbackResult:
    """What a feedback file says: decisions to apply, row errors, and the counts."""

    path: str
    week: str | None
    encoding: str
    delimiter: str
    decisions: list[Decision] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    blank_rows: list[int] = field(default_factory=list)  # an id, no decision
    ignored_rows: list[int] = field(default_factory=list)  # no id and nothing to apply
    rows_total: int = 0  # data rows read (entirely blank lines excluded)
    undecided: dict[str, int] = field(default_factory=dict)  # id of a blank row -> its row

    @property
    def counts(self) -> dict[str, int]:
        """keep/reject/maybe/clear/blank/errors/duplicates/ignored/rows, for the summary."""
        tally = {KEEP: 0, REJECT: 0, MAYBE: 0, CLEAR: 0}
        for decision in self.decisions:
            tally[decision.decision] += 1
        return {
            **tally,
            "blank": len(self.blank_rows),
            "errors": len(self.errors),
            "duplicates": sum(len(d.duplicate_rows) for d in self.decisions),
            "ignored": len(self.ignored_rows),
            "rows": self.rows_total,
        }

    def summary(self) -> str:
        """One line, e.g. `3 keep, 1 reject, 0 maybe, 5 undecided, 2 row errors`."""
        c = self.counts
        text = (
            f"{c[KEEP]} keep, {c[REJECT]} reject, {c[MAYBE]} maybe, "
            f"{c['blank']} undecided, {c['errors']} row errors"
        )
        if c[CLEAR]:
            text += f", {c[CLEAR]} cleared"
        if c["duplicates"]:
            text += f", {c['duplicates']} duplicate rows merged"
        return text


def _key(cell: str) -> str:
    text = unescape(cell.strip())
    text = unicodedata.normalize("NFKC", text)
    text = _VARIATION_SELECTORS.sub("", text)
    return _WHITESPACE.sub(" ", text).strip().casefold()


def normalize_decision(cell: str, *, legacy_encoding: bool = False) -> str | None:
    """Map a decision cell to KEEP/REJECT/MAYBE/CLEAR; None when blank; ValueError otherwise."""
    key = _key(cell)
    if not key:
        return None
    if key == "?" and legacy_encoding:
        raise ValueError(
            "decision '?' is ambiguous: the file was saved in a legacy encoding, which "
            "turns ✓ and ✗ into '?'; write keep, reject or maybe"
        )
    try:
        return DECISION_VOCABULARY[key]
    except KeyError:
        raise ValueError(
            f"unknown decision {clean_text(cell.strip())[:40]!r}: "
            "use keep/yes/✓, reject/no/✗, maybe/? or clear"
        ) from None


def normalize_section(cell: str) -> str | None:
    """Map a section cell to one of SECTIONS; None when blank; ValueError otherwise."""
    key = _SECTION_SEPARATORS.sub("_", _key(cell)).strip("_")
    if not key:
        return None
    key = key.replace("_and_", "_")
    if key in SECTION_ALIASES:
        return SECTION_ALIASES[key]
    raise ValueError(
        f"unknown section {clean_text(cell.strip())[:40]!r}: use one of {', '.join(SECTIONS)}"
    )


def _damaged_note(note: str) -> bool:
    """A note with `??`, or nothing but `?`, spaces and punctuation: what a legacy code
    page leaves of text it cannot hold (`好文章，值得推荐` saved in cp1252 is `???,????`)."""
    return "??" in note or ("?" in note and not re.sub(r"[\W_?]", "", note))


def _text(row: CsvRow, column: str) -> str:
    """A cell unescaped, cleaned (G14) and stripped; '' when the column is absent."""
    return clean_text(unescape(row.get(column, "").strip())).strip()


def parse_feedback(path: str | os.PathLike[str]) -> FeedbackResult:
    """Parse the curator's edited shortlist into decisions and row errors.

    Raises FeedbackError (one line naming the file) when the file as a whole is unusable:
    unreadable, empty, header-only, not a shortlist, a required column missing or
    repeated, or rows of several weeks.
    """
    try:
        table = read_csv_rows(path)
    except CsvFormatError as exc:
        raise FeedbackError(str(exc)) from None
    return _parse_rows(*table)


def _parse_rows(header: list[str], rows: list[CsvRow], meta: CsvMeta) -> FeedbackResult:
    """parse_feedback on a file already read (`read_csv_rows`)."""
    name = meta.path
    _check_columns(name, header, meta.duplicate_columns)
    if not rows:
        raise FeedbackError(f"{name}: has a header but no rows; nothing to apply")

    errors: list[RowError] = []
    blank_rows: list[int] = []
    ignored_rows: list[int] = []
    undecided: dict[str, int] = {}
    by_id: dict[str, list[Decision]] = {}
    errored: dict[str, list[int]] = {}
    weeks: dict[str, int] = {}  # week -> first row naming it

    for row in rows:
        number = row.row_number
        reasons: list[str] = []
        week_cell = _text(row, "week")
        if week_cell:
            try:
                weeks.setdefault(str(IsoWeek.parse(week_cell)), number)
            except UsageError:
                reasons.append(f"invalid week {week_cell[:20]!r}")
        try:
            decision = normalize_decision(
                row.get("decision", ""), legacy_encoding=meta.legacy_encoding
            )
        except ValueError as exc:
            decision = None
            reasons.append(str(exc))
        note = _text(row, "note") or None
        if note and meta.legacy_encoding and _damaged_note(note):
            reasons.append(
                f"note {note[:40]!r} looks damaged: the file is in {meta.encoding}, which "
                "writes the characters it lacks (Chinese, ✓…) as '?'; save it as 'CSV UTF-8'"
            )
        section = None
        if "section" in row:
            try:
                section = normalize_section(row["section"])
            except ValueError as exc:
                reasons.append(str(exc))
        row_id = _text(row, "id")
        if not row_id:
            if decision is not None or reasons:
                reasons.insert(0, "no id, so the row cannot be matched to a candidate")
                errors.append(RowError(number, "; ".join(reasons)))
            else:
                ignored_rows.append(number)
            continue
        if reasons:
            errors.append(RowError(number, "; ".join(reasons), row_id))
            errored.setdefault(row_id, []).append(number)
            continue
        if decision is None:
            blank_rows.append(number)
            undecided.setdefault(row_id, number)
            continue
        by_id.setdefault(row_id, []).append(
            Decision(
                id=row_id,
                url=_text(row, "url") or None,
                decision=decision,
                section_override=section,
                note=note,
                row_number=number,
            )
        )

    week = _check_week(name, weeks)
    decisions: list[Decision] = []
    for row_id, group in by_id.items():
        rows_of_id = [d.row_number for d in group]
        if row_id in errored:
            bad = ", ".join(map(str, errored[row_id]))
            errors.extend(
                RowError(
                    n, f"id {row_id} also in row {bad}, which has an error; not applied", row_id
                )
                for n in rows_of_id
            )
        elif len({(d.decision, d.section_override, d.note) for d in group}) == 1:
            decisions.append(replace(group[0], duplicate_rows=tuple(rows_of_id[1:])))
        else:
            listed = ", ".join(map(str, rows_of_id))
            choices = ", ".join(dict.fromkeys(d.decision for d in group))
            errors.extend(
                RowError(
                    n,
                    f"id {row_id} is in rows {listed} with conflicting decisions "
                    f"({choices}, or a different section/note); none applied",
                    row_id,
                )
                for n in rows_of_id
            )
    return FeedbackResult(
        path=name,
        week=week,
        encoding=meta.encoding,
        delimiter=meta.delimiter,
        decisions=sorted(decisions, key=lambda d: d.row_number),
        errors=sorted(errors, key=lambda e: e.row_number),
        blank_rows=blank_rows,
        ignored_rows=ignored_rows,
        rows_total=len(rows),
        undecided={i: n for i, n in undecided.items() if i not in by_id and i not in errored},
    )


def _check_columns(name: str, header: list[str], duplicates: Iterable[str]) -> None:
    present = set(header)
    shown = ", ".join(h for h in header if h)[:200] or "none"
    missing = [column for column in REQUIRED_COLUMNS if column not in present]
    if len(missing) == len(REQUIRED_COLUMNS):
        raise FeedbackError(
            f"{name}: not a shortlist: no 'id' and no 'decision' column (columns: {shown})"
        )
    if missing:
        raise FeedbackError(f"{name}: missing required column {missing[0]!r} (columns: {shown})")
    repeated = [column for column in duplicates if column in _USED_COLUMNS]
    if repeated:
        raise FeedbackError(f"{name}: column {repeated[0]!r} appears more than once; keep only one")


def _check_week(name: str, weeks: dict[str, int]) -> str | None:
    """The file's one week (None without a week column); several weeks are an error."""
    if len(weeks) > 1:
        listed = ", ".join(f"{w} (row {n})" for w, n in sorted(weeks.items()))
        raise FeedbackError(f"{name}: mixes several weeks: {listed}")
    return next(iter(weeks), None)


def _same_url(known: str, given: str) -> bool:
    """Same page: equal canonical URLs (the shortlist shows the source's own spelling), or
    the same repository (a repository's row shows the link a source gave, maybe one of its
    releases, for the id of `https://github.com/owner/repo`)."""
    try:
        if canonical_url(known) == canonical_url(given):
            return True
    except InvalidURL:
        return known.strip().rstrip("/") == given.strip().rstrip("/")
    repo = project_key(known)
    return repo is not None and repo == project_key(given)


def validate_ids(
    result: FeedbackResult, known_ids: Iterable[str] | Mapping[str, str | None]
) -> FeedbackResult:
    """Return a copy of `result` whose decisions for unknown ids are row errors instead.

    `known_ids` are the ids of the week's shortlist. Given a mapping `{id: url}`, a row
    whose non-empty `url` cell disagrees with its id's URL is a row error as well (the
    id and the URL columns were sorted separately). `result` itself is not modified.
    """
    urls = known_ids if isinstance(known_ids, Mapping) else None
    known = set(known_ids)
    decisions: list[Decision] = []
    errors = list(result.errors)
    for decision in result.decisions:
        rows = (decision.row_number, *decision.duplicate_rows)
        reason = None
        if decision.id not in known:
            week = f" of week {result.week}" if result.week else ""
            reason = f"unknown id {decision.id}: not in the shortlist{week}"
        elif urls is not None and decision.url and urls.get(decision.id):
            expected_url = str(urls[decision.id])
            if not _same_url(expected_url, decision.url):
                reason = (
                    f"id {decision.id} is {expected_url} but the row says {decision.url}; "
                    "were the columns sorted separately?"
                )
        if reason is None:
            decisions.append(decision)
        else:
            errors.extend(RowError(n, reason, decision.id) for n in rows)
    return replace(result, decisions=decisions, errors=sorted(errors, key=lambda e: e.row_number))


@dataclass(frozen=True)
class PreviousEdits:
    """What an existing shortlist file says that a new one of the same week must keep."""

    decisions: dict[str, Decision]  # by id, only ids the new shortlist has
    edited_rows: int  # rows with a decision or a note
    not_carried: int  # of those, rows the new shortlist cannot carry (gone, note only, error)
    extra_columns: dict[str, int] = field(default_factory=dict)  # name -> non-empty cells
    changed_cells: list[tuple[int, str]] = field(default_factory=list)  # (row, column)
    note_only: list[int] = field(default_factory=list)  # rows with a note and no decision

    def lost(self) -> list[str]:
        """What the new file will not hold, each a phrase for the command's message."""
        parts = []
        if self.note_only:
            n = len(self.note_only)
            rows = first_of([str(row) for row in self.note_only])
            notes = "1 note" if n == 1 else f"{n} notes"
            parts.append(
                f"{notes} without a decision (row{'s' if n > 1 else ''} {rows}) not carried"
            )
        if gone := self.not_carried - len(self.note_only):
            rows = "row is" if gone == 1 else "rows are"
            parts.append(
                f"{gone} of its {self.edited_rows} edited {rows} not on the new shortlist or "
                "could not be read"
            )
        if self.extra_columns:
            listed = ", ".join(
                f"{name!r} ({n} cell{'s' if n > 1 else ''})"
                for name, n in self.extra_columns.items()
            )
            are = "columns {} are" if len(self.extra_columns) > 1 else "column {} is"
            parts.append(f"its {are.format(listed)} not on the new shortlist")
        if self.changed_cells:
            n = len(self.changed_cells)
            shown = first_of([f"{col} in row {row}" for row, col in self.changed_cells])
            cells = f"{n} cells it changed are" if n > 1 else "1 cell it changed is"
            parts.append(f"{cells} rewritten ({shown})")
        return parts


# The cells a re-run compares with what `rank` wrote there (`shortlist.written_cells`):
# the text a curator may type over. Not the numbers and dates: a spreadsheet saves them in
# its locale's form (0,5 for 0.5000, 03.02.2025), and nobody types over a score. The score
# is recorded too, to tell whether the file is the one recorded (`_recorded_run`).
TYPED_COLUMNS = ("section", "reason", "nearest_past", "title", "url", "sources", "flags")


def _shown_cell(column: str, text: str) -> str:
    """A cell as compared with what `rank` wrote (a section by its name)."""
    text = clean_text(unescape(text.strip())).strip()
    if column == "section":
        try:
            return normalize_section(text) or ""
        except ValueError:
            return text
    return text


def _changed(column: str, cell: str, written: object) -> bool:
    """Whether `cell` differs from what `rank` wrote there (a link only if another page)."""
    mine, theirs = _shown_cell(column, cell), _shown_cell(column, format_cell(written))
    if mine == theirs or _same_number(mine, theirs):
        return False
    return not (column == "url" and mine and theirs and _same_url(theirs, mine))


def _same_number(mine: str, theirs: str) -> bool:
    """Both cells are the same number in other forms (a title `1.50` a spreadsheet saved
    as `1.5`, `0012` as `12`, `1e5` as `100000`)."""
    try:
        return float(mine) == float(theirs)
    except ValueError:
        return False


def _same_score(cell: str, written: object) -> bool:
    """`cell` is the score `written`, as a spreadsheet may save it: `0,25` or `0.25` for
    0.2547 (rounded to the cell's own decimals)."""
    text = cell.strip().replace(",", ".")
    try:
        return abs(float(text) - float(written)) <= 0.5 * 10 ** -len(text.partition(".")[2]) + 1e-9
    except (TypeError, ValueError):
        return False


def _recorded_run(rows: list[CsvRow], shown: Mapping[str, Mapping[str, object]]) -> bool:
    """Whether the file holds the run `shown` records: most of its scores are the ones
    recorded. A store restored from a backup records an earlier run than the file's; its
    reasons, flags… may differ from the file's without the curator touching them."""
    pairs = [
        (row["score"], shown[row_id]["score"])
        for row in rows
        if "score" in row and "score" in shown.get(row_id := _text(row, "id"), {})
    ]
    return 2 * sum(_same_score(cell, written) for cell, written in pairs) >= len(pairs)


def previous_edits(
    path: str | os.PathLike[str],
    ids: Iterable[str],
    shown: Mapping[str, Mapping[str, object]] | None = None,
    columns: Iterable[str] = (),
) -> PreviousEdits:
    """The curator's edits in the shortlist file at `path` (before it is rewritten).

    `ids` are the rows of the new shortlist. Given `shown` ({id: {column: value}} as
    `rank` wrote them: `TYPED_COLUMNS` and the score, or only section, title
    and url) and `columns` (those the new file has), also the edits it cannot hold: a
    column of its own with any non-empty cell, and text changed from what `rank` wrote
    there (a section only where no decision carries it over; if most scores are not the
    recorded ones, the file is another run's: only section, title and link). The order
    of the rows is no edit. A file that cannot be read as a shortlist at all counts as one
    edited row not carried (the caller keeps a copy); a header-only or empty one has no
    edits.
    """
    try:
        header, rows, meta = read_csv_rows(path)
    except CsvFormatError:
        with open(path, "rb") as fh:
            blank = not fh.read(1 << 20).removeprefix(b"\xef\xbb\xbf").strip()
        return PreviousEdits({}, 0, 0) if blank else PreviousEdits({}, 1, 1)
    extra = _extra_columns(header, rows, meta, set(columns)) if columns else {}
    edited = sum(1 for row in rows if _text(row, "decision") or _text(row, "note"))
    carried: dict[str, Decision] = {}
    not_carried = edited
    note_only: list[int] = []
    if edited:
        try:
            result = _parse_rows(header, rows, meta)
        except FeedbackError:
            return PreviousEdits({}, edited, edited, extra)
        # The check `rank feedback` makes: a row whose link is not its id's (columns
        # shifted or sorted separately) carries nothing.
        checked = validate_ids(result, {i: (shown or {}).get(i, {}).get("url") for i in ids})
        carried = {d.id: d for d in checked.decisions}
        not_carried -= sum(1 + len(d.duplicate_rows) for d in carried.values())
        note_only = [
            row.row_number for row in rows if _text(row, "note") and not _text(row, "decision")
        ]
    shown = shown or {}
    # Of another run than the one recorded, only what does not change from run to run.
    compared = set(TYPED_COLUMNS if _recorded_run(rows, shown) else ("section", "title", "url"))
    changed = []
    for row in rows:
        row_id = _text(row, "id")
        written = shown.get(row_id)
        if written is None:
            continue
        for column in row:  # the file's order
            if column not in compared or column not in written:
                continue  # not typed text `rank` wrote
            if column == "section" and row_id in carried:
                continue  # the decision carries it over
            if _changed(column, row[column], written[column]):
                changed.append((row.row_number, column))
    return PreviousEdits(carried, edited, not_carried, extra, changed, note_only)


def _extra_columns(
    header: list[str], rows: list[CsvRow], meta: CsvMeta, columns: set[str]
) -> dict[str, int]:
    """{column as the file names it: its non-empty cells} of the columns not in `columns`."""
    known = {normalize_header(c) for c in columns}
    extra = {}
    for index, name in enumerate(header):
        if name and name not in known and header.index(name) == index:
            cells = sum(1 for row in rows if row.get(name, "").strip())
            if cells:
                extra[meta.raw_header[index].strip()] = cells
    return extra
