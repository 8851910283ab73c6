"""Tests of ranking.history: parsing the archive's markdown and importing it into the store."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ranking import history, store
from tests.conftest import REPO, require_shared

SAMPLE = REPO / "data" / "sample" / "archive"
FIXTURES = Path(__file__).parent / "fixtures" / "history"


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(":memory:")
    store.migrate(connection)
    yield connection
    connection.close()


def _table(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple]:
    # Table names are literals of this test module.
    return con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()


def _counts(con: duckdb.DuckDBPyConnection) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for issue_no, _date, section, n in store.history_counts(con):
        out.setdefault(issue_no, {})[section] = n
    return out


def _fixture(name: str) -> tuple[history.Issue | None, history.Skipped | None, list]:
    data = (FIXTURES / name).read_bytes()
    return history.parse_issue(data.decode("utf-8"), zh_name=f"docs/{name}")


# --- pure helpers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("[🦄文章&教程](https://pythoncat.top/posts/2023-06-03-weekly)", "article"),
        ("🦄文章&教程", "article"),
        ("🦄[文章&教程](https://example.org)", "article"),
        ("🦄 Articles & Tutorials", "article"),
        ("[🐿️项目&资源]", "project"),
        ("🐿️ Projects & Resources", "project"),
        ("🐢播客&视频", "audio_video"),
        ("[🐢 Podcasts & Videos](https://example.org)", "audio_video"),
        ("🥂讨论&问题", "hot_topic"),
        ("**[🥂Discussions & Questions]**", "hot_topic"),
        ("🐢赠书福利", "book"),
        ("🐱好书推荐", "book"),
        ("🐢 Book Giveaway", "book"),
        ("🐱产品推荐", "other"),
        ("🐱播客推荐", "other"),
        ("🐱品牌赞助", "other"),
        ("🐱 Brand Partnership", "other"),
        ("🐱赞助&支持", "boilerplate"),
        ("赞助&支持", "boilerplate"),
        ("🐱Sponsor & Support", "boilerplate"),
        ("[🐱欢迎订阅](https://example.org)", "boilerplate"),
        ("🐼Subscribe Welcome", "boilerplate"),
        ("[🐧 往年回顾](https://example.org)", "boilerplate"),
        ("🐧 Looking Back", "boilerplate"),
        ("🐼关于周刊", "boilerplate"),
        ("🌱关联阅读", "boilerplate"),
        ("🧪实验室", ""),
    ],
)
def test_classify_heading(heading: str, expected: str) -> None:
    assert history.classify_heading(heading) == expected


@pytest.mark.parametrize(
    ("char", "number"),
    [("①", 1), ("⑩", 10), ("⑪", 11), ("⑳", 20), ("㉑", 21), ("㊿", 50), ("❶", 1), ("⓫", 11)],
)
def test_circled_numbers(char: str, number: int) -> None:
    assert history._circled_number(char) == number


@pytest.mark.parametrize("char", ["1", "a", "中", "•", "Ⓐ"])
def test_not_circled_numbers(char: str) -> None:
    assert history._circled_number(char) is None


def test_links_images_and_parentheses() -> None:
    text = (
        "见 [维基](https://en.wikipedia.org/wiki/Python_(programming_language)) 与 "
        "![图](https://img.example.org/a.png)，以及 [![badge](https://img.example.org/b.svg)]"
        "(https://example.org/badge) 和 <https://example.org/auto>。"
    )
    links = [(lk.url, lk.image) for lk in history._scan_links(text)]
    assert links == [
        ("https://en.wikipedia.org/wiki/Python_(programming_language)", False),
        ("https://img.example.org/a.png", True),
        ("https://example.org/badge", True),
        ("https://example.org/auto", False),
    ]
    assert history._plain(text) == "见 维基 与 ，以及 和 https://example.org/auto。"


# --- fixtures: one file per edge case ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "line", "needle"),
    [
        ("malformed-front-matter.md", 2, "unclosed quote"),
        ("unclosed-front-matter.md", 1, "not closed"),
        ("no-date.md", 1, "no publication date"),
    ],
)
def test_malformed_file_is_one_line_problem(name: str, line: int, needle: str) -> None:
    issue, skipped, problems = _fixture(name)
    assert issue is None and skipped is None
    errors = [p for p in problems if p.severity == "error"]
    assert len(errors) == 1
    text = str(errors[0])
    assert text.startswith(f"docs/{name}:{line}: ")
    assert needle in text and "\n" not in text


def test_unreadable_bytes_name_file_and_line() -> None:
    text, problem = history._decode((FIXTURES / "bad-bytes.md").read_bytes(), "docs/bad-bytes.md")
    assert text is None and problem is not None
    assert str(problem).startswith("docs/bad-bytes.md:8: not UTF-8")


def test_unknown_section_is_other_and_reported() -> None:
    issue, _, problems = _fixture("unknown-section.md")
    assert issue is not None
    sections = [(it.section, it.position, it.title_zh) for it in issue.items]
    assert sections == [
        ("article", 1, "测试覆盖率的误区"),
        ("other", 1, "一个实验性的小工具"),
        ("other", 2, "另一个实验"),
        ("project", 1, "coverage.py：代码覆盖率工具"),
    ]
    assert [str(p) for p in problems] == [
        "docs/unknown-section.md:12: unknown section heading '🧪实验室' read as other"
    ]
    assert problems[0].severity == "warning"


def test_dot_markers_and_lists_inside_summaries() -> None:
    issue, _, problems = _fixture("dot-markers.md")
    assert issue is not None and not problems
    assert [(it.section, it.position, it.url) for it in issue.items] == [
        ("article", 1, "https://docs.python.org/3/library/dataclasses.html"),
        ("article", 2, "https://docs.python.org/3/reference/datamodel.html#slots"),
        ("project", 1, "https://github.com/python-attrs/attrs"),
    ]
    assert issue.items[0].summary_zh == "摘要里有一个有序列表：\n1. 第一点\n2. 第二点"
    assert issue.items[1].title_zh == "理解 `__slots__`"


def test_mixed_front_matter() -> None:
    issue, _, problems = _fixture("mixed-front-matter.md")
    assert issue is not None and not problems
    assert (issue.issue_no, issue.pub_date, issue.title) == (
        46,
        dt.date(2025, 6, 14),
        "Python 潮流周刊#46：混合的前言",
    )
    assert [(it.section, it.title_zh) for it in issue.items] == [
        ("article", "一篇文章"),
        ("project", "一个项目"),
    ]
    assert issue.items[0].section_raw == "🦄 文章&教程"


def test_circled_numbers_beyond_ten_are_title_only_items() -> None:
    issue, _, problems = _fixture("circled-beyond-ten.md")
    assert issue is not None and not problems
    assert issue.kind == "title_only"
    articles = [it for it in issue.items if it.section == "article"]
    projects = [it for it in issue.items if it.section == "project"]
    assert [it.position for it in articles] == list(range(1, 24))
    assert articles[10].title_zh == "第 ⑪ 篇文章的标题"
    assert articles[22].title_zh == "第 ㉓ 篇文章的标题"
    assert [it.title_zh for it in projects] == ["项目一", "项目二", "项目三"]
    assert all(it.url is None and it.style == "circled" for it in issue.items)


def test_section_headings_as_plain_lines_and_bold_links() -> None:
    # Read by order, the discussion (there is no 播客&视频) was filed as audio_video.
    issue, _, problems = _fixture("plain-headings.md")
    assert issue is not None and not problems
    got = [(it.section, it.section_raw, it.position, it.title_zh) for it in issue.items]
    assert got == [
        ("article", "🦄文章&教程", 1, "第一篇文章的标题"),
        ("article", "🦄文章&教程", 2, "第二篇文章的标题"),
        ("project", "项目&资源", 1, "第一个项目的标题"),
        ("hot_topic", "🥂讨论&问题", 1, "第一个讨论的标题"),
    ]


@pytest.mark.parametrize(
    ("line", "section"),
    [
        ("🥂讨论&问题", "hot_topic"),
        ("讨论&问题", "hot_topic"),
        ("🥂讨论&问题：", "hot_topic"),
        ("**[🥂讨论&问题](https://example.org/t)**", "hot_topic"),
        ("🐢 Podcasts & Videos:", "audio_video"),
        # Not a section's name alone: text, as before.
        ("讨论&问题都欢迎", "project"),
        ("推荐几个讨论", "project"),
        ("Python 教程", "project"),
    ],
)
def test_a_plain_line_is_a_heading_only_when_it_is_a_sections_name(line: str, section: str) -> None:
    text = (
        "---\ntitle: '#90'\npubDate: 2025-08-02\n---\n\n**🐿️项目&资源**\n\n"
        f"① 项一\n\n{line}\n\n② 项二\n"
    )
    issue, _, _ = history.parse_issue(text, zh_name="docs/x.md")
    assert issue is not None
    assert [it.section for it in issue.items] == ["project", section]


def test_title_only_items_written_as_a_bulleted_list() -> None:
    text = (
        "---\ntitle: '#90'\npubDate: 2025-03-01\n---\n\n## 🦄文章&教程\n\n"
        "- ① 第一篇\n* ② 第二篇\n\n## 🐿️项目&资源\n\n- ① docling：文档解析\n- ②  uv：包管理\n"
    )
    issue, _, problems = history.parse_issue(text, zh_name="docs/2025-03-01-weekly.md")
    assert issue is not None and not problems and issue.kind == "title_only"
    assert [(it.section, it.position, it.title_zh) for it in issue.items] == [
        ("article", 1, "第一篇"),
        ("article", 2, "第二篇"),
        ("project", 1, "docling：文档解析"),
        ("project", 2, "uv：包管理"),
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "## 🦄文章&教程\n\n1、[一](https://a.org/1)\n\n摘要：\n\n```\n\n"
            "2、[二](https://a.org/2)\n\n## 🐿️项目&资源\n\n1、[p](https://github.com/o/p)\n",
            [("article", 1, "一"), ("article", 2, "二"), ("project", 1, "p")],
        ),
        (
            "**🦄文章&教程**\n\n① 文一\n\n```\n② 文二\n\n**🐿️项目&资源**\n\n① 项一\n",
            [("article", 1, "文一"), ("article", 2, "文二"), ("project", 1, "项一")],
        ),
    ],
    ids=["numbered", "title_only"],
)
def test_unclosed_code_fence_is_text_and_a_warning(body: str, expected: list) -> None:
    # A stray ``` once swallowed every item after it, silently.
    text = "---\ntitle: '#90'\npubDate: 2025-08-02\n---\n\n" + body
    fence_line = text.split("\n").index("```") + 1
    issue, _, problems = history.parse_issue(text, zh_name="docs/x.md")
    assert issue is not None
    assert [(it.section, it.position, it.title_zh) for it in issue.items] == expected
    assert [(str(p), p.severity) for p in problems] == [
        (f"docs/x.md:{fence_line}: code fence never closed; read as text", "warning")
    ]


def test_closed_code_fence_keeps_its_lines_as_text() -> None:
    text = (
        "---\ntitle: '#90'\npubDate: 2025-08-02\n---\n\n## 🦄文章&教程\n\n"
        "1、[一](https://a.org/1)\n\n```\n2、[不是条目](https://a.org/2)\n```\n"
    )
    issue, _, problems = history.parse_issue(text, zh_name="docs/x.md")
    assert issue is not None and not problems
    assert [it.title_zh for it in issue.items] == ["一"]


def test_a_stray_fence_closed_only_past_a_section_heading_is_text() -> None:
    # A stray ``` paired with the closing fence of a real code block further down: read
    # as a fence, it swallowed the end of one section and the start of the next.
    text = (
        "---\ntitle: '#90'\npubDate: 2025-08-02\n---\n\n## 🦄文章&教程\n\n"
        "1、[一](https://a.org/1)\n\n```\n\n2、[二](https://a.org/2)\n\n"
        "## 🐿️项目&资源\n\n1、[p](https://github.com/o/p)\n\n"
        "```python\nprint(1)\n```\n\n2、[q](https://github.com/o/q)\n"
    )
    lines = text.split("\n")
    issue, _, problems = history.parse_issue(text, zh_name="docs/x.md")
    assert issue is not None
    assert [(it.section, it.title_zh) for it in issue.items] == [
        ("article", "一"),
        ("article", "二"),
        ("project", "p"),
        ("project", "q"),
    ]
    stray, heading = lines.index("```") + 1, lines.index("## 🐿️项目&资源") + 1
    assert [(str(p), p.severity) for p in problems] == [
        (
            f"docs/x.md:{stray}: code fence would hold the section heading of line "
            f"{heading}; read as text",
            "warning",
        )
    ]


def test_date_only_in_h1() -> None:
    issue, _, problems = _fixture("only-h1-date.md")
    assert issue is not None and not problems
    assert (issue.issue_no, issue.pub_date, issue.kind) == (48, dt.date(2025, 6, 28), "full")
    assert issue.title == "Python 潮流周刊#48 (2025-06-28)"
    assert len(issue.items) == 2


def test_essay_has_no_items() -> None:
    issue, skipped, problems = _fixture("essay.md")
    assert issue is not None and skipped is None and not problems
    assert (issue.issue_no, issue.kind, issue.items) == (49, "special", [])


def test_date_from_file_name_when_nowhere_else() -> None:
    text = "# Python 潮流周刊#50\n\n## 🦄文章&教程\n\n1、[a](https://example.org/a)\n"
    issue, _, problems = history.parse_issue(text, zh_name="docs/2025-07-12-weekly.md")
    assert issue is not None and not problems
    assert (issue.issue_no, issue.pub_date) == (50, dt.date(2025, 7, 12))


@pytest.mark.parametrize(
    "written",
    ["Jan 18, 2025", "January 18, 2025", "18 Jan 2025", "2025年1月18日", "Sat, 18 Jan 2025 08:00"],
)
def test_pub_date_in_a_human_form_is_read(written: str) -> None:
    # `pubDate: Jan 18, 2025` failed the file: the issue vanished from a backtest.
    text = f"---\ntitle: '#86'\npubDate: {written}\n---\n\n**🦄文章&教程**\n\n① 文一\n"
    issue, _, problems = history.parse_issue(text, zh_name="docs/x.md")
    assert issue is not None and not problems
    assert issue.pub_date == dt.date(2025, 1, 18)


@pytest.mark.parametrize(
    "written", ["18 Jan 25", "2025 Jan 18", "January 18th, 2025", "Jan 18 2025 10am", "Tuesday"]
)
def test_pub_date_is_read_as_the_crawler_reads_dates(written: str) -> None:
    # History read pubDate with a parser of its own (dateutil), which guessed at forms the
    # crawler's parse_date refuses (a two-digit year, a time of day in words).
    text = f"---\ntitle: '#86'\npubDate: {written}\n---\n\n**🦄文章&教程**\n\n① 文一\n"
    issue, _, problems = history.parse_issue(text, zh_name="docs/2025-01-11-weekly.md")
    assert issue is not None and issue.pub_date == dt.date(2025, 1, 11)  # the file name's
    assert [str(p) for p in problems] == [
        f"docs/2025-01-11-weekly.md:3: pubDate is not a date: {written!r}; ignored"
    ]


def test_pub_date_is_the_day_written_not_the_day_in_utc() -> None:
    text = "---\ntitle: '#86'\npubDate: Sat, 18 Jan 2025 02:00:00 +0800\n---\n\n① 文一\n"
    issue, _, problems = history.parse_issue(text, zh_name="docs/x.md")
    assert issue is not None and not problems
    assert issue.pub_date == dt.date(2025, 1, 18)


@pytest.mark.parametrize("written", ["soon", "Jan 2025", "1/2/2025", "2025-02-30"])
def test_unreadable_pub_date_gives_way_to_the_file_name_with_a_warning(written: str) -> None:
    text = f"---\ntitle: '#86'\npubDate: {written}\n---\n\n**🦄文章&教程**\n\n① 文一\n"
    warning = (
        f"docs/2025-01-18-weekly.md:3: pubDate is {'not a valid' if '-' in written else 'not a'}"
        f" date: {written!r}; ignored",
        "warning",
    )
    issue, _, problems = history.parse_issue(text, zh_name="docs/2025-01-18-weekly.md")
    assert issue is not None and issue.pub_date == dt.date(2025, 1, 18)
    assert [(str(p), p.severity) for p in problems] == [warning]
    # Without a date anywhere else the issue fails, with an error naming the file.
    issue, _, problems = history.parse_issue(text, zh_name="docs/x.md")
    assert issue is None
    assert [(str(p), p.severity) for p in problems] == [
        (warning[0].replace("2025-01-18-weekly.md", "x.md"), "warning"),
        ("docs/x.md:1: no publication date in front matter, title or file name", "error"),
    ]


def test_unreadable_pub_date_gives_way_to_the_translation() -> None:
    # The zh file's unreadable pubDate failed the issue although the translation had one
    # (and the same file without a pubDate took the translation's).
    body = "---\ntitle: '#80'\n{date}---\n\n## 🦄文章&教程\n\n1、[A](https://a.example/x)\n"
    en = body.format(date="pubDate: 2025-01-18\n")
    for zh in (body.format(date="pubDate: someday\n"), body.format(date="")):
        issue, _, problems = history.parse_issue(
            zh, en, zh_name="docs/weekly-80.md", en_name="docs/en/weekly-80.md"
        )
        assert issue is not None and (issue.issue_no, issue.pub_date) == (80, dt.date(2025, 1, 18))
        assert [p.severity for p in problems] == ["warning"] * ("someday" in zh)
    # An unreadable date in the translation is a warning too, and costs it nothing.
    zh = body.format(date="pubDate: 2025-01-18\n")
    issue, _, problems = history.parse_issue(
        zh, body.format(date="pubDate: someday\n"), zh_name="docs/a.md", en_name="docs/en/a.md"
    )
    assert issue is not None and issue.en_file == "docs/en/a.md"
    assert [str(p) for p in problems] == [
        "docs/en/a.md:3: pubDate is not a date: 'someday'; ignored"
    ]


def test_title_only_list_without_headings_switches_section_on_restart() -> None:
    text = "---\ntitle: '#90'\npubDate: 2025-08-02\n---\n\n① 文一\n② 文二\n\n① 项一\n② 项二\n"
    issue, _, _ = history.parse_issue(text, zh_name="docs/x.md")
    assert issue is not None
    assert [(it.section, it.position) for it in issue.items] == [
        ("article", 1),
        ("article", 2),
        ("project", 1),
        ("project", 2),
    ]


# --- the sample archive ---------------------------------------------------------------

SAMPLE_COUNTS = {
    1: {"article": 3, "project": 3, "audio_video": 1, "hot_topic": 1},
    2: {"article": 3, "project": 2, "audio_video": 1, "book": 1},
    3: {"article": 2, "project": 3, "other": 1},
    4: {"article": 3, "project": 3, "hot_topic": 2},
    5: {"article": 2, "project": 2, "audio_video": 2},
    6: {"article": 3, "project": 3},
    7: {"article": 5, "project": 5},
    8: {"article": 12, "project": 12},
}


def _item(items: pd.DataFrame, issue_no: int, section: str, position: int) -> pd.Series:
    rows = items[
        (items.issue_no == issue_no) & (items.section == section) & (items.position == position)
    ]
    assert len(rows) == 1
    return rows.iloc[0]


def test_sample_archive_counts_and_report(con: duckdb.DuckDBPyConnection) -> None:
    report = history.import_archive(con, SAMPLE)
    assert report.ok and not report.problems
    assert report.imported == list(range(1, 9))
    assert [str(s) for s in report.skipped] == [
        "docs/2025-03-01-sweekly.md: season compilation (re-lists earlier items), not an issue"
    ]
    assert _counts(con) == SAMPLE_COUNTS
    issues = store.history_issues(con)
    assert issues.kind.tolist() == ["full"] * 6 + ["title_only"] * 2
    assert issues.en_file.notna().tolist() == [True] * 6 + [False] * 2
    assert report.summary().startswith("8 issues imported (75 items, 6 links), 0 unchanged")


def test_sample_items_english_and_links(con: duckdb.DuckDBPyConnection) -> None:
    history.import_archive(con, SAMPLE)
    items, links = store.history_frames(con)
    first = _item(items, 1, "article", 1)
    assert first.title_en == "A Year of Managing Python Projects with uv"
    assert first.canonical_url == "https://docs.astral.sh/uv/guides/projects"
    assert "Poetry" in first.summary_en and "](" not in first.summary_en
    assert _item(items, 1, "project", 1).repo_key == "github.com/astral-sh/ruff"
    # Attached by section and position: no link in zh, another URL in en.
    assert _item(items, 4, "article", 2).title_en == "Packaging News of the Week"
    assert _item(items, 5, "audio_video", 1).title_en == "Python Bytes: An Async Special"
    # En title written before its bare URL.
    assert _item(items, 6, "project", 3).title_en == "papermill: Parameterize and Execute Notebooks"
    # A withdrawn item keeps its number but is not a row.
    assert items[(items.issue_no == 5) & (items.section == "article")].position.tolist() == [1, 3]
    book = _item(items, 2, "book", 1)
    assert (book.title_zh, book.title_en) == (
        "《示例 Python 进阶手册》",
        "A Sample Python Handbook",
    )
    assert pd.isna(book.url)
    assert _item(items, 3, "other", 1).title_zh == "示例笔记"
    related = links[links.issue_no == 1][["item_no", "url", "text"]].values.tolist()
    assert related == [
        [1, "https://python-poetry.org/", "Poetry"],
        [1, "https://pdm-project.org/", "PDM"],
    ]
    # Images, boilerplate (subscribe, coffee) and intro links are not related links.
    assert not links.url.str.contains("img.example.org|subscribe|coffee|paid").any()
    sub = links[(links.issue_no == 4) & (links.section == "article")]
    assert sub.canonical_url.tolist() == [
        "https://pip.pypa.io/en/stable/news",
        "https://docs.pypi.org/trusted-publishers",
    ]


def test_sample_title_only_issues(con: duckdb.DuckDBPyConnection) -> None:
    history.import_archive(con, SAMPLE)
    items, _ = store.history_frames(con)
    paid = items[items.issue_no.isin([7, 8])]
    assert paid.url.isna().all() and paid.title_en.isna().all()
    assert _item(items, 8, "article", 11).title_zh == "打包 CLI 工具的几种方式"
    assert _item(items, 8, "project", 12).title_zh == "scalene：CPU、GPU 与内存分析器"
    assert _item(items, 7, "project", 1).title_zh == "litestar：轻量的 ASGI 框架"


def test_history_frames_before_is_strict(con: duckdb.DuckDBPyConnection) -> None:
    history.import_archive(con, SAMPLE)
    items, links = store.history_frames(con, before=dt.date(2025, 1, 25))
    assert sorted(items.issue_no.unique()) == [1, 2, 3]
    assert set(links.issue_no) <= {1, 2, 3}
    assert list(items.columns) == [
        "issue_no",
        "pub_date",
        "section",
        "item_no",
        "position",
        "title_zh",
        "title_en",
        "summary_zh",
        "summary_en",
        "url",
        "canonical_url",
        "repo_key",
        "host",
    ]
    empty, _ = store.history_frames(con, before=dt.date(2025, 1, 4))
    assert empty.empty


def test_import_twice_changes_nothing(con: duckdb.DuckDBPyConnection) -> None:
    history.import_archive(con, SAMPLE)
    before = {t: _table(con, t) for t in ("issues", "issue_items", "item_links")}
    report = history.import_archive(con, SAMPLE)
    assert report.imported == [] and report.unchanged == list(range(1, 9))
    assert {t: _table(con, t) for t in before} == before


@pytest.mark.parametrize("layout", ["folder", "docs"])
def test_a_folder_without_issue_files_is_an_error_not_an_empty_success(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, layout: str
) -> None:
    docs = tmp_path / "docs" if layout == "docs" else tmp_path
    docs.mkdir(exist_ok=True)
    (docs / "notes.txt").write_text("not an issue")
    report = history.import_archive(con, tmp_path)
    assert not report.ok
    assert [str(p) for p in report.problems] == [
        f"{docs}:0: no issue files (*.md): is this the archive?"
    ]


def test_edited_file_replaces_its_issue(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    shutil.copytree(SAMPLE, archive)
    history.import_archive(con, archive)
    others = con.execute("SELECT * FROM issue_items WHERE issue_no <> 2 ORDER BY ALL").fetchall()
    path = archive / "docs" / "2025-01-11-weekly.md"
    text = path.read_text(encoding="utf-8")
    start = text.index("2、[httpx")
    end = text.index("## [🐢播客&视频]")
    path.write_text(
        text[:start].replace("何时从 pandas 换到 Polars", "何时换到 Polars") + text[end:],
        encoding="utf-8",
    )
    report = history.import_archive(con, archive)
    assert report.imported == [2] and len(report.unchanged) == 7
    assert _counts(con)[2] == {"article": 3, "project": 1, "audio_video": 1, "book": 1}
    items, _ = store.history_frames(con)
    assert _item(items, 2, "article", 1).title_zh == "何时换到 Polars"
    assert (
        others
        == con.execute("SELECT * FROM issue_items WHERE issue_no <> 2 ORDER BY ALL").fetchall()
    )
    # A file whose issue number changes leaves no rows under the old number.
    path.write_text(path.read_text(encoding="utf-8").replace("#2：", "#20："), encoding="utf-8")
    history.import_archive(con, archive)
    assert 2 not in _counts(con) and _counts(con)[20]["article"] == 3


def test_malformed_file_does_not_stop_the_others(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    shutil.copytree(SAMPLE, archive)
    for name in ("malformed-front-matter.md", "bad-bytes.md", "unknown-section.md", "essay.md"):
        shutil.copy(FIXTURES / name, archive / "docs" / name)
    report = history.import_archive(con, archive)
    assert not report.ok
    assert [str(p) for p in report.errors] == [
        "docs/bad-bytes.md:8: not UTF-8 text (byte 103): invalid start byte",
        "docs/malformed-front-matter.md:2: front matter value has an unclosed quote: title",
    ]
    assert [p.file for p in report.warnings] == ["docs/unknown-section.md"]
    assert sorted(_counts(con)) == [*range(1, 9), 44]
    assert report.special == [49]
    assert store.history_issues(con).set_index("issue_no").loc[49, "n_items"] == 0


def test_an_essay_is_skipped_and_named_never_counted_as_an_issue(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # #49 was counted among the issues imported ('9 issues imported (…; 1 without items)'),
    # its file named only with -v; issue 2: files with no items are skipped and reported
    # as such, never counted as issues of items. Earlier it was counted both ways.
    archive = tmp_path / "archive"
    shutil.copytree(SAMPLE, archive)
    shutil.copy(FIXTURES / "essay.md", archive / "docs" / "essay.md")
    skipped = [
        "docs/2025-03-01-sweekly.md: season compilation (re-lists earlier items), not an issue",
        "docs/essay.md: no items (an essay, #49), not counted as an issue",
    ]
    report = history.import_archive(con, archive)
    assert report.imported == list(range(1, 9)) and report.special == [49]
    assert [str(s) for s in report.skipped] == skipped
    assert report.summary() == (
        "8 issues imported (75 items, 6 links), 0 unchanged, 2 files skipped, 0 errors, 0 warnings"
    )
    again = history.import_archive(con, archive)
    assert [str(s) for s in again.skipped] == skipped
    assert again.summary() == (
        "0 issues imported (0 items, 0 links), 8 unchanged, 2 files skipped, 0 errors, 0 warnings"
    )
    # Its number and date stay stored: `rank --week` of its week ranks as of that day.
    essay = store.history_issues(con).set_index("issue_no").loc[49]
    assert (essay.kind, essay.n_items, str(essay.pub_date)[:10]) == ("special", 0, "2025-07-05")


def test_duplicate_issue_number_is_a_problem(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    body = "---\ntitle: '#3'\npubDate: 2025-01-18\n---\n\n## 🦄文章&教程\n\n1、[a](https://a.org)\n"
    (docs / "a.md").write_text(body, encoding="utf-8")
    (docs / "b.md").write_text(body, encoding="utf-8")
    issues, _, problems = history.read_archive(docs)
    assert [i.file for i in issues] == ["docs/a.md"]
    assert [str(p) for p in problems] == [
        "docs/b.md:1: issue #3 is already in docs/a.md; file ignored"
    ]


def test_missing_archive_is_a_problem(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    report = history.import_archive(con, tmp_path / "nowhere")
    assert not report.ok and "does not exist" in str(report.errors[0])


# --- the real archive (../shared) -----------------------------------------------------


@pytest.mark.shared
def test_real_archive_matches_reference(con: duckdb.DuckDBPyConnection) -> None:
    root = require_shared("datasets", "python-weekly")
    reference = root / "reference"
    started = time.perf_counter()
    report = history.import_archive(con, root)
    assert time.perf_counter() - started < 10
    assert report.ok, [str(p) for p in report.errors]
    skipped = {s.file: s.reason for s in report.skipped}
    assert "season compilation" in skipped["docs/2023-12-11-sweekly.md"]
    assert report.special == [55]
    assert (
        skipped["docs/2024-06-10-weekly.md"] == "no items (an essay, #55), not counted as an issue"
    )
    assert report.summary().startswith("84 issues imported (2145 items, 311 links), 0 unchanged")

    ref_issues = pd.read_csv(reference / "issues.csv")
    mine = store.history_issues(con)
    for kind in ("full", "special"):
        want = ref_issues[ref_issues.kind == kind]
        got = mine[mine.kind == kind]
        assert set(got.issue_no) == set(want.issue_no), kind
    dates = dict(zip(mine.issue_no, mine.pub_date.astype(str), strict=True))
    assert dates == dict(zip(ref_issues.issue_no, ref_issues.pub_date, strict=True))

    expected = pd.read_csv(reference / "section_counts.csv").set_index("issue_no")
    counts = _counts(con)
    mismatches = {
        issue_no: (dict(row[row > 0]), counts.get(issue_no, {}))
        for issue_no, row in expected.iterrows()
        if {k: v for k, v in row.items() if v} != counts.get(issue_no, {})
    }
    assert not mismatches
    assert set(counts) == set(expected.index)

    items, links = store.history_frames(con)
    assert not items.duplicated(["issue_no", "section", "position"]).any()
    picks = pd.read_parquet(reference / "picks.parquet")
    primary = picks[picks.is_primary & ~picks.is_deleted]
    ours = {
        (r.issue_no, r.section, r.position): r.canonical_url for r in items.itertuples(index=False)
    }
    agree = 0
    for r in primary.itertuples(index=False):
        got = ours.get((r.issue_no, r.section, r.position))
        got = got.removeprefix("https://") if isinstance(got, str) else None
        want = r.canonical_url if isinstance(r.canonical_url, str) else None
        agree += got == want
    assert agree / len(primary) >= 0.99, f"{agree}/{len(primary)} primary URLs agree"
    # Inline links of summaries are related links, not items.
    inline = picks[~picks.is_primary]
    assert abs(len(links) - len(inline)) <= len(inline) * 0.02
