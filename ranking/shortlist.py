"""The shortlist of a week: fit on history, score the pool, quotas + diversity, explanations.

One entry point for the CLI and the backtest: `build_shortlist(con, as_of)`. It

1. reads the history published before `as_of` (before `week_history_before` for `rank
   --week`: the week's own issue is not "already featured" in it) and, for every past
   issue, the pool as it was on that issue's date (cached: a past pool never changes),
   labelled with what the curator picked (plus his keep/reject decisions from `rank feedback`);
2. fits the SignalScorer on those pools: positives are picks that were in the pool,
   negatives the other pool items, except items he picked in a later issue (not a
   negative for the week they were first seen);
3. builds today's pool (sightings in the window, featured items removed), scores it and
   splits each score into one contribution per signal (they sum to the score);
4. selects per section with quotas, a per-domain cap and MMR diversity, and writes a
   one-line reason per row and its `flags` (a bad date, a cleaned title: `flags_of`).

`write_shortlist(result, path, fmt)` writes the CSV (BOM, formula-safe, atomic,
byte-identical on reruns), the markdown draft in the newsletter's layout, or the table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import logging
import os
import pickle
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from threadpoolctl import threadpool_limits

from crawler.items import SECTIONS
from ranking import store
from ranking.csvio import atomic_open
from ranking.defaults import DEFAULT_QUOTAS
from ranking.features import FEATURES, SIGNALS, build_features
from ranking.feedback import TYPED_COLUMNS
from ranking.pool import (
    DEFAULT_WINDOW_DAYS,
    Pool,
    build_pool,
    has_link,
    pick_sections,
    title_tokens,
)
from ranking.scorers import SignalScorer
from ranking.weeks import IsoWeek

logger = logging.getLogger(__name__)

DEFAULT_DOMAIN_CAP = 3
DEFAULT_MMR_LAMBDA = 0.5
# Hosts that carry many independent authors or threads: capped per owner (GitHub) or not
# at all, because a cap per host would starve a whole section.
UNCAPPED_HOSTS = frozenset(
    {
        "news.ycombinator.com",
        "reddit.com",
        "v2ex.com",
        "youtube.com",
        "pypi.org",
        "huggingface.co",
        "gitlab.com",
    }
)
# Negatives kept per fit (positives are all kept): every one up to this many, then a
# stable hash sample, so a refit stays within R3's 300k rows and is identical on identical
# data. The archive's 84 pools give ~75k; sampling them down to 25k (as before) cost
# project recall@24 0.03-0.06 in the backtest.
MAX_NEGATIVES = 250_000
SECTION_ORDER = {s: i for i, s in enumerate(SECTIONS)}
CONTRIBUTION_COLUMNS = [*SIGNALS, "base"]
SHORTLIST_COLUMNS = [
    "week",
    "id",
    "rank",
    "section",
    "score",
    *CONTRIBUTION_COLUMNS,
    "reason",
    "nearest_past",
    "nearest_sim",
    "title",
    "url",
    "sources",
    "first_seen",
    "last_seen",
    "days_trending",
    "stars",
    "stars_gained",
    "points",
    "comments",
    "decision",
    "note",
    "flags",
]
MD_HEADINGS = {
    "article": "🦄文章&教程",
    "project": "🐿️项目&资源",
    "audio_video": "🐢播客&视频",
    "hot_topic": "🥂讨论&问题",
}


@dataclass
class TrainingPool:
    """One past issue's pool, features and labels (what the fit learns from)."""

    issue_no: int
    as_of: dt.date
    frame: pd.DataFrame  # pool rows + features + `pick` (section picked, or None)


@dataclass
class ShortlistResult:
    """Everything one `rank` run produced; `frame` is the CSV, `ranked` the full order."""

    week: str
    as_of: dt.date
    window_days: int
    frame: pd.DataFrame
    ranked: pd.DataFrame
    featured: pd.DataFrame
    pool_counts: dict[str, int]
    training: dict[str, int]
    scorer: SignalScorer | None
    scored: pd.DataFrame = field(default_factory=pd.DataFrame)  # every pool row, scored
    messages: list[str] = field(default_factory=list)


def _to_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


def history_items(con, before: dt.date | None) -> pd.DataFrame:
    """Items of the issues published before `before` (all with None), pub_date as a date."""
    items, _links = store.history_frames(con, before=before)
    if len(items):
        items = items.copy()
        items["pub_date"] = [_to_date(d) for d in items["pub_date"]]
    return items


def week_as_of(con, week: IsoWeek) -> tuple[dt.date, str]:
    """The day `rank --week` ranks a week as of, and why (for the command's message).

    Once the week's issue is imported, the day it came out: the shortlist it was picked
    from, as `rank backtest` replays it (the same file). Before that, the week's last day
    with sightings (its Sunday once it is over): each training pool is as of its issue's
    day with the sightings up to that day (an item first seen that day is 0 days old).
    Ranked on a Thursday as of the Sunday, every age would be 3 days older than the fit
    learned it: `benchmarks/late_ranking.py` (each issue ranked as of 2 days after its
    date) loses project picks that way.
    """
    issue = store.last_issue_in(con, week.start, week.end)
    if issue is not None:
        return issue[1], f"the day #{issue[0]} came out"
    last = store.last_sighting_day(con, week.end)
    if last is not None and last >= week.start:
        return last, f"the last day of {week} with sightings so far"
    return week.end, "its end"


def week_history_before(con, week: IsoWeek) -> dt.date:
    """A week's shortlist knows the issues published before this day: the day of the
    week's last imported issue (the one picked from this shortlist is not "already
    featured" in it; an earlier issue of the same week, picked from an earlier run, is),
    else its Monday."""
    issue = store.last_issue_in(con, week.start, week.end)
    return week.start if issue is None else issue[1]


def pool_as_of(con, history_items: pd.DataFrame, as_of: dt.date, window_days: int) -> Pool:
    """The pool on `as_of`: only sightings on or before it, only history before it."""
    start = as_of - dt.timedelta(days=window_days - 1)
    sightings = store.sightings_frame(con, start, as_of)
    prior = store.sightings_prior_stats(con, start)
    past = history_items[history_items["pub_date"] < as_of] if len(history_items) else None
    return build_pool(sightings, past, as_of, window_days, prior)


def _features(pool: Pool, history_items: pd.DataFrame) -> pd.DataFrame:
    past = history_items[history_items["pub_date"] < pool.as_of] if len(history_items) else None
    feats = build_features(pool.frame, past, pool.as_of, pool.window_days)
    feats = feats.drop(columns=[c for c in feats.columns if c in pool.frame.columns])
    return pd.concat([pool.frame, feats], axis=1)


# Bump when pools or features change meaning: old cache files are then ignored.
CACHE_VERSION = "23"


class PoolCache(dict):
    """In-memory cache of scored pools, backed by files under `directory`.

    A past pool depends only on sightings up to its date and issues before it (before the
    week began, for a week's pool before its issue is imported), so a file is keyed by
    (version, date, window, digest of those sightings, digest of that history) and is
    valid until the data it was built from changes. A past issue's labelled training
    pool (`train-…`: the columns the fit reads, and the pick labels) is kept the same way,
    its digest covering the issue's own items too, so a nightly `rank` neither loads
    those pools whole nor labels them again. The files are pickles this program wrote
    into its own data folder; unreadable ones are rebuilt.
    Writing a pool removes the files it replaces (the same date and window built from
    older data, or by another CACHE_VERSION), so the folder does not grow run by run.
    """

    def __init__(self, directory: Path, con, history_items: pd.DataFrame) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.con = con
        self.history = history_items
        self._days: list[tuple[dt.date, int, int]] | None = None
        self._row_hashes: np.ndarray | None = None

    def _sightings_digest(self, end: dt.date) -> str:
        """count:last date:xor of the row hashes of every sighting on or before `end`."""
        if self._days is None:
            self._days = store.sightings_day_digests(self.con)
        count, last, xor = 0, None, 0
        for day, n, h in self._days:
            if day > end:
                break
            count, last, xor = count + n, day, xor ^ int(h)
        return f"{count}:{last}:{xor if count else None}"

    def _history_digest(self, before: dt.date) -> str:
        """Sum of the row hashes (every column: the section decides which title-only
        items exclude a repository by name) of the items published before `before`."""
        if not len(self.history):
            return "0"
        if self._row_hashes is None:
            cols = sorted(self.history.columns)
            self._row_hashes = pd.util.hash_pandas_object(
                self.history[cols].astype(str), index=False
            ).to_numpy()
        past = (self.history["pub_date"] < before).to_numpy()
        return str(int(self._row_hashes[past].sum())) if past.any() else "0"

    def _path(self, key: tuple) -> Path | None:
        if not (isinstance(key, tuple) and key and key[0] in ("pool", "train")):
            return None
        if key[0] == "train":
            # A past issue's labelled pool: its pool (sightings up to its date, issues
            # before it) and its own items, so the issues up to and including its date.
            _, issue_no, as_of, window = key
            before, stem = as_of + dt.timedelta(days=1), _train_stem(issue_no, as_of, window)
            parts = [CACHE_VERSION, f"train {issue_no}"]
        else:
            _, as_of, window, before = key
            stem = _pool_stem(as_of, window, None if before == as_of else before)
            parts = [CACHE_VERSION]
        parts += [
            str(as_of),
            str(window),
            self._sightings_digest(as_of),
            self._history_digest(before),
        ]
        digest = hashlib.sha1("|".join(parts).encode()).hexdigest()[:20]
        return self.directory / f"{stem}-v{CACHE_VERSION}-{digest}.pkl.gz"

    def _prune(self, key: tuple, path: Path) -> None:
        """Remove the files `path` (of `key`) replaces: the same date and window, built from
        other data or by another version (also those named before the version was in the
        name); for a week's pool, those of the week's other days (`rank` run again as the
        week's data came)."""
        if key[0] == "train":
            pattern = _train_stem(*key[1:])
        else:
            _, as_of, window, before = key
            week = before != as_of
            pattern = _pool_stem("*" if week else as_of, window, before if week else None)
        for old in self.directory.glob(f"{pattern}-*.pkl.gz"):
            if old != path:
                old.unlink(missing_ok=True)

    def __contains__(self, key: object) -> bool:
        if super().__contains__(key):
            return True
        path = self._path(key)  # type: ignore[arg-type]
        if path is None or not path.exists():
            return False
        try:
            with gzip.open(path, "rb") as handle:
                value = pickle.load(handle)
            if key[0] == "pool":  # type: ignore[index]
                pool, data = value
                # The pool's own rows are the first columns of `data` (not stored twice).
                value = (dataclasses.replace(pool, frame=data[list(pool.frame.columns)]), data)
            elif not isinstance(value, TrainingPool):
                raise TypeError(f"not a training pool: {type(value).__name__}")
        except Exception as exc:  # a truncated or foreign file: rebuild it
            logger.warning("ignoring unreadable pool cache %s: %s", path, exc)
            return False
        super().__setitem__(key, value)
        return True

    def __setitem__(self, key: object, value: object) -> None:
        super().__setitem__(key, value)
        path = self._path(key)  # type: ignore[arg-type]
        if path is None:
            return
        if isinstance(value, TrainingPool):
            light: object = value
        else:
            pool, data = value  # type: ignore[misc]
            light = (dataclasses.replace(pool, frame=pool.frame.iloc[:0]), data)
        try:
            with (
                atomic_open(path, encoding=None) as raw,
                gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as handle,
            ):
                pickle.dump(light, handle, protocol=pickle.HIGHEST_PROTOCOL)
            self._prune(key, path)  # type: ignore[arg-type]
        except OSError as exc:  # read-only data folder: work without the disk cache
            logger.info("pool cache not written (%s)", exc)


def _pool_stem(day: object, window: int, before: dt.date | None) -> str:
    """A pool file's name before its version: `pool-<day>-<window>`; a pool with the
    issues before an earlier day (a week's: its Monday, or its issue's day as of its
    Sunday) `pool-<day>-<window>h<that day>`."""
    return f"pool-{day}-{window}" + ("" if before is None else f"h{before}")


def _train_stem(issue_no: int, day: object, window: int) -> str:
    """A past issue's labelled pool (`training_pools`): `train-<its day>-<window>-n<its
    number>` (two issues may share a day)."""
    return f"train-{day}-{window}-n{issue_no}"


def cache_dir_for(db_path: Path) -> Path:
    """Where past pools of the database `db_path` are kept: `<its folder>/cache/pools`."""
    return db_path.parent / "cache" / "pools"


def default_cache_dir(con) -> Path | None:
    """`cache_dir_for` the connection's database file; None in memory."""
    path = store.database_file(con)
    return None if path is None else cache_dir_for(path)


def scored_pool(
    con,
    history_items: pd.DataFrame,
    as_of: dt.date,
    window_days: int,
    cache: dict | None = None,
    history_before: dt.date | None = None,
) -> tuple[Pool, pd.DataFrame]:
    """(pool, pool rows + features) of `as_of`, from `cache` when it holds them.

    The result depends only on sightings up to `as_of` and issues published before
    `history_before` (default and at most `as_of`), so one entry serves as today's pool
    and, later, as a training pool. A week's pool before its issue is imported (`rank
    --week`) reads the issues published before the week began.
    """
    cutoff = as_of if history_before is None else min(as_of, history_before)
    key = ("pool", as_of, window_days, cutoff)
    if cache is not None and key in cache:
        return cache[key]
    if cutoff < as_of and len(history_items):
        history_items = history_items[history_items["pub_date"] < cutoff]
    pool = pool_as_of(con, history_items, as_of, window_days)
    value = (pool, _features(pool, history_items))
    if cache is not None:
        cache[key] = value
    return value


def training_pools(
    con,
    history_items: pd.DataFrame,
    as_of: dt.date,
    window_days: int,
    cache: dict | None = None,
    progress: Callable[[str], None] | None = None,
    train_issues: int | None = None,
) -> list[TrainingPool]:
    """The labelled pool of every issue published before `as_of` (the last
    `train_issues` of them when given), each as it was on the issue's date."""
    out: list[TrainingPool] = []
    if history_items is None or not len(history_items):
        return out
    issues = history_items[["issue_no", "pub_date"]].drop_duplicates().sort_values("issue_no")
    issues = issues[issues["pub_date"] < as_of]
    if train_issues is not None:
        issues = issues.tail(max(int(train_issues), 0))
    for issue_no, pub_date in issues.itertuples(index=False):
        key = ("train", int(issue_no), pub_date, window_days)
        if cache is not None and key in cache:
            out.append(cache[key])
            continue
        if progress:
            progress(f"training pool of issue #{issue_no} ({pub_date})")
        _pool, data = scored_pool(con, history_items, pub_date, window_days, cache)
        items = history_items[history_items["issue_no"] == issue_no]
        columns = [*FEATURES, "section", "id", "key"]
        frame = data[columns].copy()
        frame["pick"] = pick_sections(data, items)
        # A title-only issue: its projects are found in the pool by the name their title
        # starts with (98% of the archive's linked project picks start with their
        # repository's name), its articles (translated titles) mostly not, so they would
        # count as negatives: only its project rows teach.
        if not any(map(has_link, items["canonical_url"], items["repo_key"])):
            frame = frame[frame["section"] == "project"].reset_index(drop=True)
        tp = TrainingPool(int(issue_no), pub_date, frame)
        if cache is not None:
            cache[key] = tp
        out.append(tp)
    return out


def _stable_unit(keys: list[str]) -> np.ndarray:
    return np.array(
        [int.from_bytes(hashlib.sha1(k.encode()).digest()[:8], "big") / 2**64 for k in keys]
    )


def training_set(
    pools: list[TrainingPool], extra: list[pd.DataFrame] | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows and labels for the fit; later picks are not negatives for earlier weeks.

    `extra` are already-labelled rows (column `y`), e.g. the curator's decisions.
    """
    frames: list[pd.DataFrame] = []
    picked_at: dict[str, int] = {}
    for tp in pools:
        f = tp.frame
        for key in f.loc[f["pick"].notna(), "key"]:
            picked_at.setdefault(key, tp.issue_no)
    for tp in pools:
        f = tp.frame
        if f.empty:  # an issue older than every sighting: nothing to learn from it
            continue
        y = f["pick"].notna().to_numpy(dtype=bool)
        later = f["key"].map(lambda k, n=tp.issue_no: picked_at.get(k, n) > n).to_numpy(dtype=bool)
        keep = y | ~later
        part = f[keep].copy()
        part["y"] = y[keep].astype(int)
        part["train_key"] = [f"{tp.issue_no}:{i}" for i in part["id"]]
        frames.append(part)
    frames.extend(extra or [])
    if not frames:
        return pd.DataFrame(), np.array([], dtype=int)
    data = pd.concat(frames, ignore_index=True)
    neg = data["y"].to_numpy() == 0
    if neg.sum() > MAX_NEGATIVES:
        u = _stable_unit(data["train_key"].tolist())
        keep = ~neg | (u < MAX_NEGATIVES / neg.sum())
        data = data[keep].reset_index(drop=True)
    return data, data["y"].to_numpy()


def decision_rows(
    con,
    history_items: pd.DataFrame,
    decisions: pd.DataFrame,
    as_of: dt.date,
    window_days: int,
    cache: dict | None = None,
) -> list[pd.DataFrame]:
    """The curator's keep (1) / reject (0) decisions of weeks ended before `as_of`, as
    training rows of that week's pool: the pool `rank --week` ranks it from (as of
    `week_as_of`, the day its issue came out once imported; the issues published before
    `week_history_before`, so a kept item that his issue of that week then featured is
    still a row). As of the week's Sunday instead, every age would be a day or more older
    than in the pools the rest of the fit comes from, each as of its issue's day. An item decided
    on a shortlist ranked after that day (first seen on the Sunday after a Saturday issue)
    is not in that pool: its row comes from the pool as of the week's end."""
    rows: list[pd.DataFrame] = []
    if decisions is None or not len(decisions):
        return rows
    dec = decisions[decisions["decision"].isin(["keep", "reject"])]
    for week, group in dec.groupby("week", sort=True):
        iso = _safe_week(week)
        if iso is None or iso.end >= as_of:
            continue  # a malformed or not-yet-finished week: skip it, not the run
        labels = dict(zip(group["candidate_id"], group["decision"], strict=True))
        wanted, parts = set(labels), []
        before = week_history_before(con, iso)
        for day in sorted({week_as_of(con, iso)[0], iso.end}):
            _pool, data = scored_pool(con, history_items, day, window_days, cache, before)
            found = data.loc[data["id"].isin(wanted), [*FEATURES, "section", "id", "key"]]
            if len(found):
                parts.append(found)
                wanted -= set(found["id"])
            if not wanted:
                break
        if not parts:
            continue
        part = pd.concat(parts, ignore_index=True)
        part["pick"] = None
        part["y"] = (part["id"].map(labels) == "keep").astype(int)
        part["train_key"] = [f"d{week}:{i}" for i in part["id"]]
        rows.append(part)
    return rows


def _diversity_key(row_host: str, repo_key: object) -> str:
    if isinstance(repo_key, str) and repo_key:
        return "github:" + repo_key.split("/")[1]
    return row_host


def select_section(
    frame: pd.DataFrame,
    depth: int,
    domain_cap: int = DEFAULT_DOMAIN_CAP,
    mmr_lambda: float = DEFAULT_MMR_LAMBDA,
) -> list[int]:
    """Greedy MMR order of one section's rows (positions in `frame`), `depth` long.

    Value = score - mmr_lambda * (max cosine similarity to the rows already chosen);
    at most `domain_cap` rows per domain (per owner on GitHub, uncapped aggregators).
    Ties fall to the candidate id, so the order is stable.
    """
    n = len(frame)
    if n == 0 or depth <= 0:
        return []
    score = frame["score"].to_numpy(dtype=np.float64)
    ids = frame["id"].astype(str).to_numpy()
    order0 = np.lexsort((ids, -score))
    rank_of = np.empty(n, dtype=np.int64)
    rank_of[order0] = np.arange(n)
    texts = (frame["title"].astype(str) + " " + frame["description"].astype(str)).tolist()
    sim = None
    if mmr_lambda > 0 and n > 1:
        try:
            vec = TfidfVectorizer(analyzer=title_tokens, sublinear_tf=True, dtype=np.float32)
            x = vec.fit_transform(texts)
            sim = x
        except ValueError:
            sim = None
    hosts = [_diversity_key(h, r) for h, r in zip(frame["host"], frame["repo_key"], strict=True)]
    capped = [h in UNCAPPED_HOSTS for h in frame["host"]]
    used: dict[str, int] = {}
    chosen: list[int] = []
    max_sim = np.zeros(n)
    available = np.ones(n, dtype=bool)
    # Only the best few hundred by score can win a slot: keeps MMR O(depth * window).
    window = order0[: min(n, depth * 4 + 50)]
    while len(chosen) < min(depth, n):
        cand = window[available[window]]
        if not len(cand):
            cand = order0[available[order0]]
            if not len(cand):
                break
        value = score[cand] - mmr_lambda * max_sim[cand]
        # lexsort: last key primary -> best value, then original rank (id tie-break).
        best_idx = np.lexsort((rank_of[cand], -value))
        picked = None
        for j in best_idx:
            c = int(cand[j])
            key = hosts[c]
            if not capped[c] and used.get(key, 0) >= domain_cap:
                available[c] = False
                continue
            picked = c
            break
        if picked is None:
            continue
        available[picked] = False
        chosen.append(picked)
        used[hosts[picked]] = used.get(hosts[picked], 0) + 1
        if sim is not None:
            s = np.asarray((sim @ sim[picked].T).toarray()).ravel()
            max_sim = np.maximum(max_sim, s)
    return chosen


def _k(n: float) -> str:
    if n >= 10_000:
        return f"{n / 1000:.0f}K"
    if n >= 1000:
        return f"{n / 1000:.1f}K".replace(".0K", "K")
    return f"{int(n)}"


def _site(source: object) -> str:
    """Where a source's points were given, for a reason: `hn-python` -> Hacker News."""
    name = str(source) if isinstance(source, str) and source else "its source"
    for prefix, site in (("hn", "Hacker News"), ("reddit", "Reddit"), ("lobsters", "Lobsters")):
        if name.startswith(prefix):
            return site
    return name


def _facts(row: pd.Series) -> dict[str, str]:
    """Human facts per signal group, used to write the reason."""
    facts: dict[str, str] = {}
    srcs = str(row.get("sources", ""))
    curated = []
    if "python_weekly" in srcs:
        curated.append("Python Weekly")
    if "pycoders" in srcs:
        curated.append("PyCoder's Weekly")
    if "hellogithub" in srcs:
        curated.append("HelloGitHub")
    if curated:
        facts["source_prior"] = "picked by " + " + ".join(curated)
    elif "trending:python" in srcs:
        facts["source_prior"] = "on GitHub trending (python)"
    elif "hn:" in srcs:
        facts["source_prior"] = "on Hacker News"
    mom = []
    if row.get("days_trending", 0):
        pos = row.get("best_trending_position")
        where = f", best #{int(pos)}" if pd.notna(pos) else ""
        days = int(row["days_trending"])
        mom.append(f"{days} day{'s' if days != 1 else ''} on trending{where}")
    if pd.notna(row.get("stars_gained")) and row.get("stars_gained", 0) > 0:
        mom.append(f"+{_k(row['stars_gained'])} stars")
    if pd.notna(row.get("points")) and row.get("points", 0) > 0:
        mom.append(f"{int(row['points'])} points on {_site(row.get('points_source'))}")
    if mom:
        facts["momentum"] = ", ".join(mom)
    if row.get("nearest_sim", 0) >= 0.15 and row.get("nearest_past"):
        past = str(row["nearest_past"])
        past = past if len(past) <= 50 else past[:49] + "…"
        facts["relevance"] = f"like {past} ({row['nearest_sim']:.2f})"
    lang = row.get("language")
    python = []
    if isinstance(lang, str) and lang:
        python.append(f"language {lang}")
    elif row.get("mentions_python", 0):
        python.append("about Python")
    if row.get("is_pypi", 0):
        python.append("on PyPI")
    if python:
        facts["python"] = ", ".join(python)
    first_age = (row["as_of"] - row["first_seen"]).days if pd.notna(row["first_seen"]) else None
    if first_age is not None:
        prior = int(row.get("prior_days", 0) or 0)
        fresh = f"first seen {first_age} d ago" if first_age else "first seen today"
        if prior:
            fresh += f", seen {prior} d before the window"
        facts["freshness"] = fresh
    if row.get("recent_sim", 0) >= 0.3:
        facts["novelty"] = f"close to a recent issue ({row['recent_sim']:.2f})"
    return facts


def reason_of(row: pd.Series) -> str:
    """One line: the facts behind the largest positive contributions, best first."""
    facts = _facts(row)
    order = sorted(SIGNALS, key=lambda s: (-float(row.get(s, 0.0)), s))
    parts = [facts[s] for s in order if s in facts and float(row.get(s, 0.0)) > 0][:3]
    if not parts:
        parts = [facts[s] for s in order if s in facts][:2]
    return "; ".join(parts) if parts else "in the pool"


# The `flags` column: the pool's date and title flags (the crawler's words) in plain words.
DATE_FLAG_TEXT = {
    "missing": "date missing",
    "unparsed": "date unreadable",
    "out_of_range": "date out of range",
    "future": "date in the future",
}
TITLE_FLAG_TEXT = {
    "bidi": "title had bidi controls",
    "zero_width": "title had zero-width characters",
    "controls": "title had control characters",
    "surrogates": "title had broken characters",
    "replacement_char": "title had undecodable characters",
    "truncated": "title truncated",
}


def flags_of(date_flags: object, title_flags: object) -> str:
    """What the curator should know before trusting a row, `; `-joined ("" when nothing):
    a missing, unreadable or impossible date (no recency boost: RELIABILITY R3), a title
    the crawler had to clean of bidi, zero-width or control characters (P14)."""
    parts = []
    for flags, text, prefix in (
        (date_flags, DATE_FLAG_TEXT, "date"),
        (title_flags, TITLE_FLAG_TEXT, "title"),
    ):
        if isinstance(flags, str):
            parts += [text.get(f, f"{prefix} {f}") for f in flags.split()]
    return "; ".join(parts)


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in (*SHORTLIST_COLUMNS, "url_canonical")})


# The fit's matrices are small (rows x ~40 features): threaded BLAS only spins, and on a
# busy 2-core machine one logistic fit took 1.9 s CPU threaded against 0.09 s on one thread.
@threadpool_limits.wrap(limits=1, user_api="blas")
def build_shortlist(
    con,
    as_of: dt.date,
    window_days: int = DEFAULT_WINDOW_DAYS,
    quotas: Mapping[str, int] | None = None,
    *,
    week: str | None = None,
    domain_cap: int = DEFAULT_DOMAIN_CAP,
    depth: int | None = None,
    cache: dict | None = None,
    use_decisions: bool = True,
    train_issues: int | None = None,
    cache_dir: str | os.PathLike[str] | bool | None = True,
    progress: Callable[[str], None] | None = None,
    history_before: dt.date | None = None,
) -> ShortlistResult:
    """Rank the pool of `as_of` (`week_as_of` for a week, an issue's date in a backtest).

    `quotas` per section (default DEFAULT_QUOTAS); `depth` ranks further than the quota
    (for recall@50) without changing the first rows; `cache` (a dict) keeps past pools
    between calls; `cache_dir` also keeps them on disk (True: `default_cache_dir`, beside
    a file database; None/False: no disk cache); `train_issues` limits the fit to the
    most recent past issues. Reads only data dated on or before `as_of`, and only issues
    published before `history_before` (default and at most `as_of`): `rank --week` passes
    `week_history_before`, so the issue picked from the week's shortlist is not "already
    featured" in it, and ranking the week again after importing it changes nothing.
    """
    quotas = dict(DEFAULT_QUOTAS if quotas is None else quotas)
    week = week or str(IsoWeek.of(as_of))
    before = as_of if history_before is None else min(as_of, history_before)
    history = history_items(con, before)
    directory = default_cache_dir(con) if cache_dir is True else (cache_dir or None)
    if directory is not None:
        disk = PoolCache(Path(directory), con, history)
        if cache:
            disk.update(cache)
        cache = disk
    pools = training_pools(con, history, as_of, window_days, cache, progress, train_issues)
    extra = []
    if use_decisions:
        decisions = store.decisions_frame(con)
        extra = decision_rows(con, history, decisions, as_of, window_days, cache)
    train, y = training_set(pools, extra)
    scorer = SignalScorer().fit(train, y) if len(train) else None
    if progress:
        progress(f"pool of {as_of}")
    pool, data = scored_pool(con, history, as_of, window_days, cache, before)
    data = data.copy()
    messages: list[str] = []
    training = {"pools": len(pools), "rows": len(train), "positives": int(y.sum()) if len(y) else 0}
    if pool.frame.empty:
        messages.append(f"no candidates seen in the {window_days} days before {as_of}")
        empty = _empty_frame()
        return ShortlistResult(
            week,
            as_of,
            window_days,
            empty,
            empty.copy(),
            pool.featured,
            pool.counts,
            training,
            scorer,
            pool.frame,
            messages,
        )
    if scorer is None:
        # No past week in the store: the prior weights alone, on this week's pool.
        messages.append("no past week to learn from: ranked by the prior weights")
        scorer = SignalScorer().fit(data, np.zeros(len(data), dtype=int))
    contrib = scorer.contributions(data)
    contrib = contrib.round(4)
    data[CONTRIBUTION_COLUMNS] = contrib[CONTRIBUTION_COLUMNS]
    # The score is the sum of the shown (rounded) contributions, so they add up exactly.
    data["score"] = data[CONTRIBUTION_COLUMNS].sum(axis=1).round(4)
    data["as_of"] = as_of
    ranked_parts = []
    shortlist_parts = []
    for section in SECTIONS:
        part = data[data["section"] == section].reset_index(drop=True)
        if not len(part):
            continue
        quota = int(quotas.get(section, 0))
        order = select_section(part, max(quota, depth or 0), domain_cap)
        ranked = part.iloc[order].copy()
        ranked["rank"] = np.arange(1, len(ranked) + 1)
        ranked_parts.append(ranked)
        shortlist_parts.append(ranked[ranked["rank"] <= quota])
    ranked_all = pd.concat(ranked_parts, ignore_index=True) if ranked_parts else data.iloc[:0]
    top = pd.concat(shortlist_parts, ignore_index=True) if shortlist_parts else data.iloc[:0]
    frame = _shortlist_frame(top, week)
    return ShortlistResult(
        week,
        as_of,
        window_days,
        frame,
        ranked_all,
        pool.featured,
        pool.counts,
        training,
        scorer,
        data,
        messages,
    )


def build_week_shortlist(
    con,
    week: IsoWeek,
    window_days: int = DEFAULT_WINDOW_DAYS,
    quotas: Mapping[str, int] | None = None,
    **options,
) -> tuple[ShortlistResult, str]:
    """The shortlist of `week` as `rank --week` builds it: as of `week_as_of`, from the
    issues published before `week_history_before` (its own issue is not "already
    featured"). Once its issue is imported, that is the pool `rank backtest` replays for
    the issue. Returns it and why it is as of that day. `options` go to `build_shortlist`."""
    as_of, why = week_as_of(con, week)
    before = week_history_before(con, week)
    result = build_shortlist(
        con, as_of, window_days, quotas, week=str(week), history_before=before, **options
    )
    return result, why


def _safe_week(week: object) -> IsoWeek | None:
    try:
        return IsoWeek.parse(str(week))
    except Exception:
        return None


def _shortlist_frame(top: pd.DataFrame, week: str) -> pd.DataFrame:
    if not len(top):
        return _empty_frame()
    out = pd.DataFrame(index=top.index)
    out["week"] = week
    out["id"] = top["id"]
    out["rank"] = top["rank"].astype(int)
    out["section"] = top["section"]
    out["score"] = top["score"]
    for c in CONTRIBUTION_COLUMNS:
        out[c] = top[c]
    out["reason"] = [reason_of(r) for _, r in top.iterrows()]
    out["nearest_past"] = top["nearest_past"]
    out["nearest_sim"] = top["nearest_sim"].round(4)
    out["title"] = top["title"]
    out["url"] = top["url"]
    out["sources"] = top["sources"]
    out["first_seen"] = top["first_seen"]
    out["last_seen"] = top["last_seen"]
    out["days_trending"] = top["days_trending"].astype(int)
    for c in ("stars", "stars_gained", "points", "comments"):
        v = pd.to_numeric(top[c], errors="coerce")
        out[c] = pd.array([int(x) if np.isfinite(x) else None for x in v.astype(float)], "Int64")
    out["decision"] = ""
    out["note"] = ""
    out["flags"] = [
        flags_of(d, t) for d, t in zip(top["date_flags"], top["title_flags"], strict=True)
    ]
    out["url_canonical"] = top["canonical_url"]
    out["_order"] = top["section"].map(SECTION_ORDER)
    out = out.sort_values(["_order", "rank"], kind="stable").drop(columns="_order")
    return out.reset_index(drop=True)


def with_decisions(
    frame: pd.DataFrame, decisions: dict[str, tuple[str, str | None, str | None]]
) -> pd.DataFrame:
    """`frame` with the curator's earlier (decision, note, section) filled in by row id; the
    section he named (usually the row's own; another one if he moved the row) is written
    in its `section` cell."""
    frame = frame.copy()
    for index, row_id in zip(frame.index, frame["id"], strict=True):
        if row_id not in decisions:
            continue
        decision, note, section = decisions[row_id]
        frame.at[index, "decision"] = decision
        frame.at[index, "note"] = note or ""
        if section:
            frame.at[index, "section"] = section
    return frame


# --------------------------------------------------------------------------- output


def shortlist_rows(frame: pd.DataFrame) -> list[list[object]]:
    """CSV rows (SHORTLIST_COLUMNS order) with NaN/inf as None and dates as ISO text."""
    rows = []
    for rec in frame[SHORTLIST_COLUMNS].itertuples(index=False):
        row = []
        for v in rec:
            if v is None or (isinstance(v, float) and not np.isfinite(v)):
                row.append(None)
            elif isinstance(v, pd.Timestamp):
                row.append(v.date().isoformat())
            elif isinstance(v, np.integer):
                row.append(int(v))
            elif isinstance(v, np.floating):
                row.append(float(v) if np.isfinite(v) else None)
            elif v is pd.NA or v is pd.NaT:
                row.append(None)
            else:
                row.append(v)
        rows.append(row)
    return rows


def written_cells(frame: pd.DataFrame) -> dict[str, dict[str, object]]:
    """{id: {column: value}} of the TYPED_COLUMNS and the score of the CSV rows of `frame`."""
    rows = [dict(zip(SHORTLIST_COLUMNS, row, strict=True)) for row in shortlist_rows(frame)]
    return {row["id"]: {c: row[c] for c in [*TYPED_COLUMNS, "score"]} for row in rows}


def _fmt_stars(stars: object) -> str:
    try:
        n = float(stars)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    if not np.isfinite(n) or n <= 0:
        return ""
    return f" ({_k(n)} stars)"  # as the ranker's spec (project issue #4) spells it


SUMMARY_PLACEHOLDER = "（摘要待写 / summary to write）"


# Characters Markdown would read as markup in a link's text (the archive writes
# `\_\_pycache\_\_`), and a link target that must be written `<...>` (a space, `<`, `>`,
# parentheses that do not pair).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")
_MD_ODD_URL = re.compile(r"[\s<>]")


def _md_text(text: object) -> str:
    """`text` as literal Markdown: `__match__` stays underscores, `dict[str, int]` brackets."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def _md_url(url: object) -> str:
    """A link target CommonMark reads whole: as it is, or in `<>` (`<` `>` escaped)."""
    text = str(url)
    if _MD_ODD_URL.search(text) or not _parens_pair(text):
        return "<" + text.replace("<", "%3C").replace(">", "%3E") + ">"
    return text


def _parens_pair(text: str) -> bool:
    """Every `)` closes an earlier `(`, and every `(` is closed (`A_(b)`, not `A)_(B`)."""
    depth = 0
    for char in text:
        depth += (char == "(") - (char == ")")
        if depth < 0:
            return False
    return depth == 0


def _md_item(n: int, title: object, url: object, stars: str) -> list[str]:
    """One item in the newsletter's layout: `N、[title](url) (3.5K stars)` and a summary
    slot."""
    return [f"{n}、[{_md_text(title)}]({_md_url(url)}){stars}", "", SUMMARY_PLACEHOLDER, ""]


MD_PER_SECTION = 12  # items per section in the `--format md` draft
TABLE_TOP = 10  # rows per section in the `--format table` text
TABLE_TITLE_CHARS = 60  # a longer title is cut, ending in `…`


def _top_per_section(frame: pd.DataFrame, top: int) -> list[tuple[str, pd.DataFrame]]:
    """The first `top` rows of each section that has any, in SECTIONS order."""
    parts = ((section, frame[frame["section"] == section].head(top)) for section in SECTIONS)
    return [(section, part) for section, part in parts if len(part)]


def render_markdown(result: ShortlistResult, per_section: int = MD_PER_SECTION) -> str:
    """A draft in the newsletter's own layout: sections, `N、[title](url)`, placeholders."""
    lines = [f"# Python 潮流周刊 draft ({result.week})", ""]
    frame = result.frame
    for section, part in _top_per_section(frame, per_section):
        lines += [f"## {MD_HEADINGS[section]}", ""]
        for n, row in enumerate(part.itertuples(index=False), start=1):
            stars = _fmt_stars(row.stars) if section == "project" else ""
            lines += _md_item(n, row.title, row.url, stars)
    if not len(frame):
        lines += ["(no candidates this week)", ""]
    return "\n".join(lines)


def render_kept_draft(week: str, decisions: pd.DataFrame) -> str:
    """The kept items of a week (`store.decisions_detail` + `stars`) in the same layout."""
    lines = [f"<!-- draft for {week}: kept items from `rank feedback` -->", ""]
    kept = decisions[decisions["decision"] == "keep"]
    if kept.empty:
        return "\n".join([*lines, f"No kept items for {week} yet.", ""])
    section = kept["section_override"].fillna(kept["shown_section"]).fillna(kept["section"])
    kept = kept.assign(_section=section.fillna("article"))
    for key in SECTIONS:
        part = kept[kept["_section"] == key]
        if part.empty:
            continue
        lines += [f"## {MD_HEADINGS[key]}", ""]
        for n, row in enumerate(part.itertuples(index=False), start=1):
            stars = _fmt_stars(row.stars) if key == "project" else ""
            lines += _md_item(n, row.title, row.url, stars)
            if isinstance(row.note, str) and row.note:
                lines += [f"<!-- note: {_comment_text(row.note)} -->", ""]
    return "\n".join(lines)


def _comment_text(text: str) -> str:
    """`text` safe inside an HTML comment: every `--` becomes an en dash, so no `-->`
    (or `<!--`) in a curator's note can end the comment early and publish the rest."""
    return text.replace("--", "\N{EN DASH}")


def render_table(result: ShortlistResult, top: int = TABLE_TOP, width: int = 160) -> str:
    """The top of each section as a rich table `width` columns wide (text, for the
    terminal). Cells are plain text: a title `[/b] …` or `dict[str, int]` is no markup."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from crawler.text import truncate

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=False, color_system=None)
    frame = result.frame
    if not len(frame):
        console.print(f"{result.week}: no candidates")
    for section, part in _top_per_section(frame, top):
        table = Table(title=f"{result.week} · {section}", show_lines=False)
        for col in ("rank", "score", "title", "reason", "sources"):
            table.add_column(col, overflow="fold")
        for row in part.itertuples(index=False):
            table.add_row(
                str(row.rank),
                f"{row.score:.2f}",
                Text(truncate(str(row.title), TABLE_TITLE_CHARS)),
                Text(str(row.reason)),
                Text(str(row.sources)),
            )
        console.print(table)
    return buf.getvalue()


def write_shortlist(result: ShortlistResult, path: str | os.PathLike[str], fmt: str = "csv") -> int:
    """Write the shortlist as `csv`, `md` or `table` text to `path`; return the rows written
    (for `md` and `table`, the top of each section they show, not the whole shortlist)."""
    from ranking.csvio import atomic_write_text, write_csv

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        return write_csv(target, SHORTLIST_COLUMNS, shortlist_rows(result.frame))
    if fmt == "md":
        atomic_write_text(target, render_markdown(result))
        return sum(len(part) for _, part in _top_per_section(result.frame, MD_PER_SECTION))
    if fmt == "table":
        atomic_write_text(target, render_table(result))
        return sum(len(part) for _, part in _top_per_section(result.frame, TABLE_TOP))
    raise ValueError(f"unknown shortlist format {fmt!r}: csv, md or table")
