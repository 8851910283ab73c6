"""Helpers for the notebooks: open a snapshot of the store, then the tables and plots they show.

The notebooks in `notebooks/` stay short: each cell calls one function here, so the logic
is tested and shared, never copied between notebooks. Data comes through `ranking.store`
(the only module with SQL) and the ranker (`ranking.shortlist`, `ranking.backtest`).

The store is opened as an in-memory snapshot (`open_store`): the database file is attached
read-only only while it is copied, so a notebook left open never blocks the nightly job.

Environment (all optional):

- RADAR_DB: the database file (default data/radar.duckdb; relative paths are resolved
  against the repository root, since Jupyter runs notebooks in `notebooks/`);
- RADAR_WEEK: the week of `02-why-this-rank` (default: the latest week with sightings);
- RADAR_BACKTEST_ISSUES: the issue range of `03-backtest` (default DEFAULT_BACKTEST_ISSUES);
- RADAR_BACKTEST_OUT: where `03-backtest` writes its per-issue CSVs (default a temp dir).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd

from crawler.items import SECTIONS
from crawler.urls import repo_owner
from ranking import store
from ranking.errors import RankingError, StoreError, UsageError
from ranking.weeks import IsoWeek

if TYPE_CHECKING:  # the ranker is imported lazily: 01-explore does not need scikit-learn
    from matplotlib.figure import Figure

    from ranking.backtest import BacktestReport
    from ranking.shortlist import ShortlistResult

Connection = duckdb.DuckDBPyConnection
logger = logging.getLogger(__name__)

DB_ENV = store.DB_ENV
WEEK_ENV = "RADAR_WEEK"
BACKTEST_ISSUES_ENV = "RADAR_BACKTEST_ISSUES"
BACKTEST_OUT_ENV = "RADAR_BACKTEST_OUT"
SEASON_ISSUES = 30
# Four issues inside the tuning range (#1-#40) of ../shared/datasets where article,
# project and audio/video picks are all reachable (Python Weekly and HN archives overlap);
# about a minute, most of it fitting on the 20 earlier issues.
DEFAULT_BACKTEST_ISSUES = "21-24"
SHARED_HISTORY = Path("..", "shared", "datasets", "python-weekly")
SHARED_SIGHTINGS = Path("..", "shared", "datasets", "sightings", "sightings-2023-2025-01.parquet")
# Font families with CJK glyphs, by preference (source names and titles are often
# Chinese); each is the start of a family name: "Noto Sans CJK" takes "Noto Sans CJK JP".
CJK_FONTS = (
    "Noto Sans CJK SC", "Noto Sans CJK", "Noto Sans SC", "Source Han Sans SC",
    "Source Han Sans", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback",
    "Microsoft YaHei", "PingFang SC", "SimHei", "Arial Unicode MS",
)  # fmt: skip
CJK_FONT_PACKAGE = "fonts-noto-cjk"

# Keyword topics for the season trends: a pattern over the curator's zh + en titles and
# summaries. An item can belong to several topics.
TOPICS: dict[str, str] = {
    "AI & LLM": (
        r"\b(ai|llms?|gpt|chatgpt|openai|agents?|rag|langchain|transformers?|diffusion|"
        r"llama|ollama|claude|gemini|embeddings?|neural|machine learning|deep learning)\b"
        r"|大模型|人工智能|智能体|机器学习|深度学习"
    ),
    "data & science": (
        r"\b(pandas|polars|numpy|scipy|duckdb|dataframes?|sql|jupyter|notebooks?|"
        r"visuali[sz]ation|matplotlib|analytics|parquet|arrow)\b|数据|可视化"
    ),
    "web & APIs": (
        r"\b(django|flask|fastapi|web|http|api|apis|htmx|frontend|backend|server|httpx)\b"
        r"|网站|后端|前端|爬虫"
    ),
    "packaging & tools": (
        r"\b(uv|pip|packaging|packages?|pypi|poetry|ruff|linters?|formatters?|cli|"
        r"lock ?files?|dependenc(y|ies)|virtualenvs?|venv|tox|nox)\b|打包|依赖|工具"
    ),
    "performance & concurrency": (
        r"\b(performance|fast|faster|speed|rust|async|asyncio|threads?|threading|gil|"
        r"free-threaded|concurrency|parallel|jit|trio|anyio)\b|性能|并发|异步"
    ),
    "language & CPython": (
        r"\b(peps?|pep ?\d+|cpython|python 3\.\d+|typing|types?|type hints?|syntax|"
        r"interpreter|f-strings?|match statement)\b|类型|解释器|语法"
    ),
    "testing & quality": (
        r"\b(tests?|testing|pytest|debug(ging)?|refactor(ing)?|code review|lint(ing)?)\b"
        r"|测试|调试|重构"
    ),
}
_TOPIC_RE = {name: re.compile(pattern, re.I) for name, pattern in TOPICS.items()}
_TERM = re.compile(r"[a-z][a-z0-9+#.-]*[a-z0-9+#]|[a-z]")
# Words that say nothing about a topic in this newsletter's titles.
EXTRA_STOP_WORDS = frozenset(
    {"python", "pythons", "using", "use", "new", "way", "ways", "guide", "introduction",
     "build", "building", "make", "making", "write", "writing", "code", "project",
     "projects", "library", "tool", "tools", "open", "source", "free", "best", "simple",
     "easy", "based", "written", "support", "supports", "github", "com", "www", "https",
     "http", "org", "io", "vs", "don", "let", "lets", "just", "like", "really", "article",
     "articles", "author", "authors", "introduces", "introduce", "provides", "provide",
     "including", "includes", "features", "used", "stars", "star", "open-source", "shares",
     "share", "explains", "explores", "discusses", "also", "offers", "different", "various",
     "well", "how", "many", "can", "one", "first", "more", "most", "which", "its", "your",
     "uses", "covers", "built", "chinese", "english", "weekly", "season", "seasons", "issue",
     "issues", "wechat", "year", "years", "week", "weeks", "recommended", "recommend"}
)  # fmt: skip


# --- setup -------------------------------------------------------------------------------


def repo_root() -> Path:
    """The checkout this package runs from (notebooks run with `notebooks/` as cwd)."""
    return Path(__file__).resolve().parents[1]


def resolve(path: str | os.PathLike[str]) -> Path:
    """An absolute path; relative ones are taken from the repository root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else repo_root() / p


def database_path() -> Path:
    """RADAR_DB when set, else data/radar.duckdb (both relative to the repository root)."""
    return resolve(os.environ.get(DB_ENV) or store.DEFAULT_DB)


class NotebookError(RankingError):
    """A notebook cannot go on (a malformed RADAR_* value, no sightings, no ../shared). The
    notebook shows the one-line message, not a traceback through the helpers (IPython
    renders `_render_traceback_` instead)."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class NoStoreError(NotebookError, StoreError):
    """The notebook's database does not exist: a one-line hint, as every NotebookError."""


def open_store(path: str | os.PathLike[str] | None = None, *, snapshot: bool = True) -> Connection:
    """The store for a notebook: an in-memory snapshot (default) or a read-only connection.

    A snapshot holds the file only while copying it (seconds), so the nightly job is never
    blocked; `snapshot=False` keeps a read-only connection, which blocks the nightly
    ingest until it is closed (use it only when the database is too large to copy).
    A missing file is a NoStoreError naming RADAR_DB and the demo's store.
    """
    target = resolve(path) if path is not None else database_path()
    if not target.exists():
        if path is not None:
            given = "the path given names no file"
        elif os.environ.get(DB_ENV):
            given = f"{DB_ENV} names no file"
        else:
            given = f"set {DB_ENV} before starting Jupyter"
        raise NoStoreError(
            f"database {target} does not exist: {given}, e.g. "
            f"{DB_ENV}=data/demo/radar.duckdb for the demo's store (`make demo`), "
            f"or run {store.CREATED_BY}"
        )
    if snapshot:
        return store.snapshot(target)
    return store.connect(target, read_only=True)


def store_summary(con: Connection) -> dict[str, int]:
    """Rows in the main tables: what the snapshot holds."""
    counts = store.table_counts(con)
    names = ("issues", "issue_items", "candidates", "sightings", "fetch_log", "decisions")
    return {name: counts.get(name, 0) for name in names}


def missing_data(con: Connection) -> list[str]:
    """One line per kind of data the store lacks, naming the command that brings it."""
    counts = store_summary(con)
    notes = []
    if not counts["sightings"]:
        notes.append("no sightings: run `crawl`, or `rank import-sightings FILE`")
    if not counts["issues"]:
        notes.append(
            "no issues imported: run `rank import-issues PATH` "
            "(yield, new domains and topics need the archive)"
        )
    return notes


def cjk_font(installed: Iterable[str]) -> str | None:
    """The installed font family with CJK glyphs to use (the first of CJK_FONTS), or None."""
    names = sorted(set(installed))
    return next((n for prefix in CJK_FONTS for n in names if n.startswith(prefix)), None)


def setup_plots() -> None:
    """Matplotlib defaults for the notebooks: readable sizes, and a CJK font as fallback
    when one is installed; else one line saying Chinese labels will show as boxes."""
    import matplotlib as mpl
    from matplotlib import font_manager

    mpl.rcParams.update(
        {"figure.figsize": (10, 4.5), "figure.dpi": 90, "axes.grid": True, "grid.alpha": 0.3,
         "axes.spines.top": False, "axes.spines.right": False}
    )  # fmt: skip
    font = cjk_font(f.name for f in font_manager.fontManager.ttflist)
    if font:
        # Latin text keeps the default font; the glyphs it lacks come from the CJK one.
        mpl.rcParams["font.family"] = ["sans-serif", font]
        return
    # One warning per missing glyph would bury the notebook's output: one line instead.
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
    print(
        f"No CJK font installed: Chinese labels will show as boxes. Install "
        f"{CJK_FONT_PACKAGE} (apt), delete {mpl.get_cachedir()}/fontlist-*.json and "
        f"restart the kernel."
    )


def _figure(nrows: int = 1, ncols: int = 1, **kw):
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, **kw)


def _short(text: object, width: int = 48) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= width else s[: width - 1] + "…"


# --- 01-explore: candidates per source and day -------------------------------------------


def candidates_per_day(
    con, start: dt.date | None = None, end: dt.date | None = None
) -> pd.DataFrame:
    """Long frame: seen_date, source, kind, candidates (distinct items), sightings.

    Sources only: the crawler's follow-up fetches (`_github_api`, `_article_pages`) are
    left out, as in `crawl status`.
    """
    frame = store.sightings_per_source_day(con, start, end)
    frame["seen_date"] = pd.to_datetime(frame["seen_date"])
    return frame


def source_activity(per_day: pd.DataFrame) -> pd.DataFrame:
    """Per source: days with sightings, candidates per active day (mean, max), date range."""
    if per_day.empty:
        cols = ["kind", "days", "per_day", "max_per_day", "first_day", "last_day"]
        return pd.DataFrame(columns=cols, index=pd.Index([], name="source"))
    g = per_day.groupby("source")
    out = pd.DataFrame(
        {
            "kind": g["kind"].first(),
            "days": g["seen_date"].nunique(),
            "per_day": g["candidates"].mean().round(1),
            "max_per_day": g["candidates"].max(),
            "first_day": g["seen_date"].min().dt.date,
            "last_day": g["seen_date"].max().dt.date,
        }
    )
    return out.sort_values(["days", "per_day"], ascending=False)


def plot_candidates_per_day(per_day: pd.DataFrame, top: int = 8, rolling: int = 7) -> Figure:
    """Candidates per day of the `top` busiest sources (the rest summed as `other`)."""
    fig, ax = _figure()
    if per_day.empty:
        ax.set_title("no sightings")
        return fig
    wide = per_day.pivot_table(
        index="seen_date", columns="source", values="candidates", aggfunc="sum", fill_value=0
    )
    wide = wide.asfreq("D", fill_value=0)
    order = wide.sum().sort_values(ascending=False).index
    keep = list(order[:top])
    if len(order) > top:
        wide["other"] = wide[list(order[top:])].sum(axis=1)
        keep.append("other")
    smooth = wide[keep].rolling(rolling, min_periods=1).mean() if rolling > 1 else wide[keep]
    smooth.plot(ax=ax, linewidth=1.3)
    suffix = f" ({rolling}-day mean)" if rolling > 1 else ""
    ax.set_title(f"Candidates per day and source{suffix}")
    ax.set_xlabel("")
    ax.set_ylabel("distinct items")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.tight_layout()
    return fig


# --- 01-explore: source yield and new domains --------------------------------------------


def source_yield(con: Connection, horizon_days: int | None = None) -> pd.DataFrame:
    """Per source (not the `_` follow-up fetches): seen, picked (in a later issue),
    yield = picked / seen, new-domain share."""
    frame = store.source_yield(con, horizon_days=horizon_days)
    frame["yield"] = frame["yield"].astype(float).round(4)
    frame["new_domain_share"] = frame["new_domain_share"].astype(float).round(3)
    return frame.set_index("source")


def plot_source_yield(yields: pd.DataFrame, min_seen: int = 10, top: int = 20) -> Figure:
    """Horizontal bars: yield of the sources that showed at least `min_seen` items."""
    data = yields[yields["seen"] >= min_seen].sort_values("yield", ascending=False).head(top)
    fig, ax = _figure(figsize=(10, 0.35 * max(len(data), 3) + 1.2))
    if data.empty:
        ax.set_title(f"no source with {min_seen}+ items")
        return fig
    data = data.iloc[::-1]
    ax.barh(data.index.astype(str), data["yield"] * 100, color="tab:blue")
    for y, (picked, seen, rate) in enumerate(
        zip(data["picked"], data["seen"], data["yield"], strict=True)
    ):
        ax.text(rate * 100, y, f"  {picked}/{seen}", va="center", fontsize="small")
    ax.set_xlabel("picked ÷ seen (%)")
    ax.set_title(f"Source yield: items later picked in an issue (sources with {min_seen}+ items)")
    ax.grid(axis="y", visible=False)
    fig.tight_layout()
    return fig


def _domain(host: object, repo_key: object) -> str | None:
    # The same rule as store.source_yield: a repository's owner is its "domain".
    return repo_owner(repo_key) or (host if isinstance(host, str) and host else None)


def new_domain_rate(con: Connection) -> pd.DataFrame:
    """Per issue and section (plus `all`): items with a link, from never-featured domains.

    A domain is the host, or the owner for repositories (github.com/astral-sh); it is
    new when no earlier issue featured it. Title-only issues (no links) are left out.
    """
    items, _links = store.history_frames(con)
    cols = ["issue_no", "pub_date", "section", "items", "new_domains", "rate"]
    if items.empty:
        return pd.DataFrame(columns=cols)
    items = items.copy()
    items["domain"] = [_domain(h, r) for h, r in zip(items["host"], items["repo_key"], strict=True)]
    items = items[items["domain"].notna()]
    first = items.groupby("domain")["issue_no"].min()
    items["new"] = items["domain"].map(first) == items["issue_no"]
    both = pd.concat([items, items.assign(section="all")], ignore_index=True)
    out = (
        both.groupby(["issue_no", "pub_date", "section"], as_index=False)
        .agg(items=("new", "size"), new_domains=("new", "sum"))
        .sort_values(["issue_no", "section"])
    )
    out["rate"] = (out["new_domains"] / out["items"]).round(3)
    out["pub_date"] = pd.to_datetime(out["pub_date"]).dt.date
    return out[cols].reset_index(drop=True)


def plot_new_domain_rate(rates: pd.DataFrame, rolling: int = 5) -> Figure:
    """Share of each issue's items from domains never featured before (rolling mean)."""
    fig, ax = _figure()
    if rates.empty:
        ax.set_title("no issues with links")
        return fig
    wide = rates.pivot_table(index="issue_no", columns="section", values="rate")
    shown = [s for s in ("all", "article", "project") if s in wide.columns]
    smooth = wide[shown].rolling(rolling, min_periods=1).mean()
    (smooth * 100).plot(ax=ax, linewidth=1.5, marker="." if len(smooth) < 20 else None)
    ax.set_ylim(0, 100)
    ax.set_xlabel("issue")
    ax.set_ylabel("% of items")
    ax.set_title(f"Items from domains never featured before ({rolling}-issue mean)")
    fig.tight_layout()
    return fig


# --- 01-explore: topic trends per season -------------------------------------------------


def season_label(issue_no: int, size: int = SEASON_ISSUES) -> str:
    """`S1 #1–30` for issues 1..30 with seasons of 30 issues."""
    n = (int(issue_no) - 1) // size
    return f"S{n + 1} #{n * size + 1}–{(n + 1) * size}"


def _joined(items: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    """Per row, the text of `columns` joined by spaces (missing text as empty); a Series
    also for no rows (`agg(" ".join, axis=1)` gives an empty DataFrame there)."""
    text = items[[c for c in columns if c in items]].astype("string").fillna("").astype(str)
    return pd.Series([" ".join(row) for row in text.itertuples(index=False)], index=items.index)


def _season_items(con: Connection, size: int) -> pd.DataFrame:
    items, _links = store.history_frames(con)
    items = items.copy()
    items["season"] = [season_label(n, size) for n in items["issue_no"]]
    items["text"] = _joined(items, ("title_zh", "title_en", "summary_zh", "summary_en"))
    return items[items["text"].str.strip() != ""]


def topic_shares(con: Connection, size: int = SEASON_ISSUES) -> pd.DataFrame:
    """Season x topic: the share of the season's items that match each keyword topic."""
    items = _season_items(con, size)
    if items.empty:
        return pd.DataFrame(columns=["items", *TOPICS], index=pd.Index([], name="season"))
    flags = pd.DataFrame(
        {
            name: items["text"].map(lambda t, r=rx: bool(r.search(t)))
            for name, rx in _TOPIC_RE.items()
        }
    )
    flags["season"] = items["season"].to_numpy()
    order = sorted(items["season"].unique(), key=lambda s: int(s[1:].split()[0]))
    shares = flags.groupby("season")[list(TOPICS)].mean().reindex(order)
    shares.insert(0, "items", items.groupby("season").size().reindex(order))
    shares.index.name = "season"
    return shares.round(3)


def _terms(text: str) -> list[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return [
        t
        for t in _TERM.findall(text.lower())
        if len(t) > 2
        and t not in ENGLISH_STOP_WORDS
        and t not in EXTRA_STOP_WORDS
        and not t.replace(".", "").isdigit()
    ]


def season_terms(
    con: Connection, size: int = SEASON_ISSUES, top: int = 12, min_count: int = 3
) -> pd.DataFrame:
    """Per season: the English terms of the curator's titles and summaries that set it apart.

    A term's score in a season is its count there times the log-ratio of its frequency
    in the season to its (smoothed) frequency in the other seasons: frequent and
    distinctive terms first, words common to every season sink. Terms seen fewer than
    `min_count` times in the season are left out. With one season this is frequency.
    """
    items = _season_items(con, size)
    if items.empty:
        return pd.DataFrame(
            columns=["items", "issues", "top_terms"], index=pd.Index([], name="season")
        )
    items = items.assign(en=_joined(items, ("title_en", "summary_en")))
    counts = {
        season: pd.Series(_terms(" ".join(group["en"])), dtype=object).value_counts()
        for season, group in items.groupby("season")
    }
    matrix = pd.DataFrame(counts).fillna(0.0).T
    order = sorted(matrix.index, key=lambda s: int(s[1:].split()[0]))
    matrix = matrix.reindex(order)
    total = matrix.sum(axis=0)
    rows = []
    for season in order:
        group = items[items["season"] == season]
        terms = ""
        count = matrix.loc[season] if matrix.shape[1] else pd.Series(dtype=float)
        if count.sum() > 0:
            rest = total - count
            p_season = count / count.sum()
            p_rest = (rest + 1) / (rest.sum() + len(total))
            keep = count >= min(min_count, count.max())
            score = count[keep] * np.log(p_season[keep] / p_rest[keep])
            best = score.sort_index().sort_values(ascending=False, kind="stable").head(top)
            terms = ", ".join(best.index)
        rows.append(
            {"season": season, "items": len(group),
             "issues": f"#{group['issue_no'].min()}–#{group['issue_no'].max()}",
             "top_terms": terms}
        )  # fmt: skip
    return pd.DataFrame(rows).set_index("season")


def plot_topic_shares(shares: pd.DataFrame) -> Figure:
    """Grouped bars: share of items per keyword topic, one group per season."""
    fig, ax = _figure()
    topics = [c for c in shares.columns if c in TOPICS]
    if shares.empty or not topics:
        ax.set_title("no items with text")
        return fig
    (shares[topics] * 100).plot.bar(ax=ax, width=0.8, rot=0)
    ax.set_ylabel("% of the season's items")
    ax.set_xlabel("")
    ax.set_title("Topics per season (keyword topics; an item can count in several)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


# --- 02-why-this-rank ---------------------------------------------------------------------


def pick_week(con: Connection, week: str | None = None) -> IsoWeek:
    """The week to explain: `week`, else env RADAR_WEEK, else the latest week with sightings.

    A malformed week or a store without sightings is a NotebookError (one line).
    """
    text = week or os.environ.get(WEEK_ENV)
    if text:
        try:
            return IsoWeek.parse(text)
        except UsageError as exc:
            where = "" if week else f"{WEEK_ENV}: "
            raise NotebookError(f"{where}{exc}") from None
    latest = store.last_sighting_day(con)
    if latest is None:
        raise NotebookError("no sightings in the store: run `crawl` first, or set RADAR_WEEK")
    return IsoWeek.of(pd.Timestamp(latest).date())


def week_shortlist(
    con: Connection,
    week: IsoWeek,
    *,
    quotas: Mapping[str, int] | None = None,
    below: int = 10,
    cache_dir: str | os.PathLike[str] | bool | None = True,
) -> ShortlistResult:
    """The week's shortlist exactly as `rank --week` builds it, ranked `below` rows deeper.

    Returns the ranker's ShortlistResult: `frame` is the CSV, `ranked` the full order per
    section (ranks past the quota are the items that just missed), `scored` every pool row.
    Past pools come from `cache_dir`: True (the default) is the folder `rank` keeps them in
    beside the database file `con` was opened on (`ranking.shortlist.default_cache_dir`;
    none for a database that only lives in memory), so only what `rank` has not built yet
    is computed; a path is that folder; None or False keeps no pools on disk.
    """
    from ranking.shortlist import DEFAULT_QUOTAS, build_week_shortlist

    q = dict(DEFAULT_QUOTAS if quotas is None else quotas)
    depth = max(q.values(), default=0) + below
    result, _why = build_week_shortlist(con, week, quotas=q, depth=depth, cache_dir=cache_dir)
    return result


def shortlist_table(result: ShortlistResult, per_section: int = 10) -> pd.DataFrame:
    """The top rows of each section: rank, score, title, reason, sources."""
    frame = result.frame
    cols = ["section", "rank", "score", "title", "reason", "sources"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    top = frame[frame["rank"] <= per_section][cols].copy()
    top["title"] = top["title"].map(lambda t: _short(t, 70))
    return top.reset_index(drop=True)


def signal_columns() -> list[str]:
    """The signal groups whose contributions sum (with `base`) to a score."""
    from ranking.features import SIGNALS

    return list(SIGNALS)


def contributions(result: ShortlistResult, top: int = 8) -> pd.DataFrame:
    """Per section, the `top` shortlisted items with one column per signal + base + score."""
    frame = result.frame
    cols = ["section", "rank", "title", *signal_columns(), "base", "score"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    part = frame[frame["rank"] <= top][cols].copy()
    part["title"] = part["title"].map(lambda t: _short(t, 40))
    return part.reset_index(drop=True)


def plot_contributions(contrib: pd.DataFrame) -> Figure:
    """Stacked horizontal bars per item: each signal's contribution (base apart), score as ◆."""
    signals = signal_columns()
    sections = [s for s in SECTIONS if s in set(contrib["section"])] if len(contrib) else []
    if not sections:
        fig, ax = _figure()
        ax.set_title("no shortlisted items")
        return fig
    heights = [max(2.0, 0.38 * (contrib["section"] == s).sum() + 1.0) for s in sections]
    fig, axes = _figure(
        len(sections),
        1,
        figsize=(11, sum(heights)),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    import matplotlib as mpl

    colors = dict(zip(signals, mpl.colormaps["tab10"].colors, strict=False))
    for ax, section in zip(axes[:, 0], sections, strict=True):
        part = contrib[contrib["section"] == section].sort_values("rank", ascending=False)
        labels = [f"{r}. {t}" for r, t in zip(part["rank"], part["title"], strict=True)]
        y = np.arange(len(part))
        left_pos = np.zeros(len(part))
        left_neg = np.zeros(len(part))
        for signal in signals:
            v = part[signal].to_numpy(dtype=float)
            start = np.where(v >= 0, left_pos, left_neg)
            ax.barh(y, v, left=start, color=colors[signal], label=signal, height=0.7)
            left_pos += np.clip(v, 0, None)
            left_neg += np.clip(v, None, 0)
        ax.scatter(
            part["score"] - part["base"],
            y,
            marker="D",
            color="black",
            zorder=3,
            s=18,
            label="score − base",
        )
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.set_yticks(y, labels, fontsize="small")
        base = part["base"].iloc[0] if len(part) else 0.0
        ax.set_title(f"{section}: signal contributions (base {base:+.2f} not drawn)")
        ax.grid(axis="y", visible=False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize="small", ncols=len(labels), loc="upper center")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    return fig


def nearest_past(
    con: Connection, result: ShortlistResult, top: int = 5, n: int = 3
) -> pd.DataFrame:
    """For the `top` items of each section: the `n` most similar items of past issues.

    Similarity is the ranker's own (TF-IDF over the curator's past titles and summaries,
    `ranking.features.TextIndex`), over issues published before the week's date.
    """
    from ranking.features import TextIndex, candidate_text

    cols = ["section", "rank", "title", "past_issue", "past_section", "past_title", "similarity"]
    frame = result.frame
    if frame.empty:
        return pd.DataFrame(columns=cols)
    history, _links = store.history_frames(con, before=result.as_of)
    index = TextIndex.fit(history)
    if index is None:
        return pd.DataFrame(columns=cols)
    pool = result.scored.set_index("id")
    rows = frame[frame["rank"] <= top]
    items = pool.loc[rows["id"]].reset_index()
    sim = index.similarity(candidate_text(items).tolist())
    past = index.items
    past_title = past["title_zh"].astype("string").fillna(past["title_en"].astype("string"))
    out = []
    for i, row in enumerate(rows.itertuples(index=False)):
        order = np.argsort(-sim[i], kind="stable")[:n]
        for j in order:
            if sim[i, j] <= 0:
                continue
            out.append(
                {"section": row.section, "rank": int(row.rank), "title": _short(row.title, 50),
                 "past_issue": int(past["issue_no"].iat[j]), "past_section": past["section"].iat[j],
                 "past_title": _short(past_title.iat[j], 50),
                 "similarity": round(float(sim[i, j]), 3)}
            )  # fmt: skip
    return pd.DataFrame(out, columns=cols)


def just_missed(
    result: ShortlistResult, quotas: Mapping[str, int] | None = None, n: int = 5
) -> pd.DataFrame:
    """Per section, the `n` items ranked just below the quota, with their score gap.

    `gap` is the score of the last item in minus the item's. Ranks are the ranker's MMR
    order (`ranking.shortlist.select_section`: score − 0.5 × the highest similarity to the
    items ranked above), not the score order, so a gap can be negative: the item scored
    more but resembles an item ranked above it. (Items over the per-domain cap are not
    ranked at all.)
    """
    from ranking.shortlist import DEFAULT_QUOTAS, reason_of

    q = dict(DEFAULT_QUOTAS if quotas is None else quotas)
    ranked = result.ranked
    cols = ["section", "rank", "quota", "score", "gap", "title", "reason", "sources"]
    if ranked.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for section in SECTIONS:
        part = ranked[ranked["section"] == section].sort_values("rank")
        quota = int(q.get(section, 0))
        last_in = part[part["rank"] == quota]["score"]
        missed = part[(part["rank"] > quota) & (part["rank"] <= quota + n)]
        for _, row in missed.iterrows():
            rows.append(
                {"section": section, "rank": int(row["rank"]), "quota": quota,
                 "score": round(float(row["score"]), 3),
                 "gap": round(float(last_in.iat[0] - row["score"]), 3) if len(last_in) else np.nan,
                 "title": _short(row["title"], 60), "reason": reason_of(row),
                 "sources": row["sources"]}
            )  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


# --- 03-backtest -------------------------------------------------------------------------


def backtest_issues(text: str | None = None) -> tuple[int, int]:
    """The issue range: `text`, else env RADAR_BACKTEST_ISSUES, else DEFAULT_BACKTEST_ISSUES.

    A malformed range is a NotebookError (one line).
    """
    from ranking.backtest import parse_issue_range

    env = os.environ.get(BACKTEST_ISSUES_ENV)
    try:
        return parse_issue_range(text or env or DEFAULT_BACKTEST_ISSUES)
    except UsageError as exc:
        where = "" if text or not env else f"{BACKTEST_ISSUES_ENV}: "
        raise NotebookError(f"{where}{exc}") from None


def shared_datasets() -> tuple[Path, Path]:
    """(archive folder, sightings file) of ../shared/datasets beside the checkout; a
    NotebookError (one line) naming what is missing."""
    history = resolve(SHARED_HISTORY)
    sightings = resolve(SHARED_SIGHTINGS)
    missing = [str(p) for p in (history, sightings) if not p.exists()]
    if missing:
        raise NotebookError(f"missing {', '.join(missing)} (../shared beside the checkout)")
    return history, sightings


def run_backtest(
    issues: tuple[int, int], out_dir: str | os.PathLike[str] | None = None
) -> BacktestReport:
    """Replay `issues` on ../shared/datasets with `ranking.backtest` (the `rank backtest`)."""
    from ranking.backtest import run_backtest as _run

    history, sightings = shared_datasets()
    out = out_dir or os.environ.get(BACKTEST_OUT_ENV)
    target = resolve(out) if out else Path(tempfile.mkdtemp(prefix="radar-backtest-"))
    # The skipped archive links and sightings are in report.messages: not logged twice.
    quiet = logging.getLogger("ranking")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return _run(history, sightings, issues, target)
    finally:
        quiet.setLevel(level)


def recall_table(report: BacktestReport) -> pd.DataFrame:
    """Recall@12/24/50 per section and method, sections with reachable picks only."""
    table = report.recall()
    table = table[table["reachable"] > 0].copy()
    cols = [c for c in table.columns if c.startswith("recall@")]
    table[cols] = table[cols].astype(float).round(3)
    return table.set_index(["section", "method"])


def missed_picks(report: BacktestReport, k: int = 24) -> pd.DataFrame:
    """The reachable picks the model ranked below `k` in their own section (empty rank:
    below the top 50, or in another section only), with where the popularity baseline put
    them: the backtest's picks.csv."""
    picks = report.picks
    cols = ["issue_no", "section", "rank", "pool_section", "popularity_rank", "title", "url"]
    reach = picks[picks["reachable"] == "yes"]
    rank = pd.to_numeric(reach["rank"], errors="coerce")
    missed = reach[~(rank <= k)].assign(title=lambda f: f["title"].map(_short))
    missed = missed.sort_values(["section", "issue_no", "item_no"], kind="stable")
    return missed[cols].reset_index(drop=True)


def recall_curves(report: BacktestReport, max_k: int = 50) -> pd.DataFrame:
    """Long frame: section, method, k, recall@k (ranked <= k) over reachable picks."""
    hits = report.hits
    rows = []
    ks = np.arange(1, max_k + 1)
    for (section, method), group in hits.groupby(["section", "method"], sort=True):
        rank = group["rank"].to_numpy(dtype=float)
        found = np.nan_to_num(rank, nan=np.inf)[:, None] <= ks[None, :]
        for k, recall in zip(ks, found.mean(axis=0), strict=True):
            rows.append((section, method, int(k), float(recall), len(group)))
    return pd.DataFrame(rows, columns=["section", "method", "k", "recall", "reachable"])


def plot_recall_curves(curves: pd.DataFrame, marks: tuple[int, ...] = (12, 24, 50)) -> Figure:
    """One panel per section: recall@k of the model against the baselines."""
    sections = [s for s in SECTIONS if s in set(curves["section"])]
    if not sections:
        fig, ax = _figure()
        ax.set_title("no reachable picks in this range")
        return fig
    fig, axes = _figure(1, len(sections), figsize=(4.2 * len(sections), 3.8), squeeze=False)
    from ranking.backtest import METHODS

    styles = {"model": {"linewidth": 2.4, "color": "black"}}
    for ax, section in zip(axes[0], sections, strict=True):
        part = curves[curves["section"] == section]
        methods = [m for m in METHODS if m in set(part["method"])]
        for method in methods:
            group = part[part["method"] == method]
            style = styles.get(method, {"linewidth": 1.3})
            ax.step(group["k"], group["recall"], where="post", label=method, **style)
        for k in marks:
            ax.axvline(k, color="grey", linewidth=0.6, linestyle=":")
        reach = int(part["reachable"].max()) if len(part) else 0
        ax.set_title(f"{section} (reachable picks: {reach})")
        ax.set_xlabel("k (rank within the section)")
        ax.set_ylim(0, 1.02)
    axes[0, 0].set_ylabel("recall@k")
    axes[0, 0].legend(fontsize="small", loc="upper left")
    fig.tight_layout()
    return fig
