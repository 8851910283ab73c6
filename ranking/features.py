"""Candidate frame -> feature frame: the raw evidence behind every signal, one column each.

Each feature belongs to one signal group (SIGNAL_GROUPS); the scorer learns one weight per
feature and reports the sum per group, so every shortlist column is explainable:

- relevance: similarity of the candidate's own text (title, description, domain) to the
  curator's past picks (zh + en titles and summaries), TF-IDF cosine; the nearest past item
  is kept for display; topics he keeps returning to (AI/LLM, tooling) as keyword flags;
  Chinese text (his readers are Chinese).
- python: is it about Python (repo language, the word itself or its ecosystem's names in the
  text or the repository's GitHub topics, published on PyPI).
- momentum: days on trending, best trending position, stars gained, points/comments (a
  percentile within their source), number of independent sources; log-scaled, so one
  huge number does not dominate.
- freshness: how recently it appeared (first/last seen in the window; first seen 0-2 or
  3-7 days ago), and how long it was around before the window (old trending regulars are
  rarely picked). Soft, not a cutoff.
- novelty: how close it is to what the last issues already covered (topic saturation).
- source_prior: which sources and domains led to his picks (curated newsletters, HelloGitHub,
  blogs he reads repeatedly, repo owners he featured before).

Everything here uses only the pool (sightings on or before `as_of`) and issues published
before `as_of`: no future data, and no text of the issue being predicted.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from crawler.urls import repo_owner
from ranking.pool import title_tokens

SIGNAL_GROUPS: dict[str, list[str]] = {
    "relevance": ["sim_max", "sim_top5", "sim_title", "kw_ai", "kw_tool", "zh_text"],
    "python": ["lang_python", "lang_other", "mentions_python", "is_pypi"],
    "momentum": [
        "log_days_trending",
        "trend_pos",
        "trend_top3",
        "stars_gained_vs_pool",
        "log_stars",
        "points_vs_source",
        "comments_vs_source",
        "n_sources",
    ],
    "freshness": [
        "first_age",
        "last_age",
        "log_prior_days",
        "new_this_week",
        "first_seen_0_2d",
        "first_seen_3_7d",
    ],
    "novelty": ["recent_sim"],
    "source_prior": [
        "src_python_weekly",
        "src_pycoders",
        "src_hellogithub_py",
        "src_hellogithub",
        "src_trending_python",
        "src_trending_other",
        "src_trending_all",
        "src_hn",
        "log_host_picks",
        "log_owner_picks",
        "host_rate",
    ],
}
SIGNALS = tuple(SIGNAL_GROUPS)
FEATURES = [f for group in SIGNAL_GROUPS.values() for f in group]

_AI = re.compile(
    r"\b(ai|llm|llms|gpt|chatgpt|openai|agent|agents|rag|langchain|transformer|diffusion|"
    r"llama|ollama|claude|gemini|embedding|embeddings|neural|ml|deep learning|"
    r"machine learning)\b|大模型|人工智能|智能体",
    re.I,
)
_TOOL = re.compile(
    r"\b(cli|library|framework|tool|toolkit|package|parser|async|type|typing|performance|"
    r"faster|rust|fastapi|django|flask|pandas|polars|numpy|jupyter|uv|pip|packaging)\b|"
    r"库|工具|框架",
    re.I,
)
# Python or a name only the Python ecosystem uses (a Jupyter or pandas article rarely says
# "Python"). Words with other common meanings (uv, pip, ruff, poetry) are left out.
_PYTHON = re.compile(
    r"python|\bpy\b|pypi|cpython|pep ?\d|django|flask|fastapi|pandas|numpy|pytest|jupyter|"
    r"\bconda\b|anaconda|virtualenv|pytorch|scipy|matplotlib|polars|pydantic|sqlalchemy|"
    r"asyncio|cython|mypy|scikit|sklearn|pyodide",
    re.I,
)
# "Python" that is not the language: the snakes (plural, a species, their hunters; 蟒 in a
# Chinese summary) and the comedy troupe.
_NOT_PYTHON = re.compile(
    r"\bpythons\b|\b(?:ball|burmese|reticulated|rock|royal) pythons?\b|\bpython hunt\w*|"
    r"\bmonty python",
    re.I,
)
_SNAKE = "蟒"
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_HOST_AFFIXES = re.compile(r"^www\.|\.[a-z]+$")
LAST_ISSUES_FOR_NOVELTY = 3


def _mentions_python(text: str) -> bool:
    """The text names Python the language or a name only its ecosystem uses."""
    return _SNAKE not in text and bool(_PYTHON.search(_NOT_PYTHON.sub(" ", text)))


def history_text(items: pd.DataFrame) -> pd.Series:
    """The curator's own words for each past item: zh and en titles and summaries."""
    cols = [c for c in ("title_zh", "title_en", "summary_zh", "summary_en") if c in items]
    parts = [items[c].astype("string").fillna("").astype(str) for c in cols]
    text = parts[0].str.cat(parts[1:], sep=" ") if parts else pd.Series("", index=items.index)
    repo = items.get("repo_key")
    if repo is not None:
        text = (
            text
            + " "
            + repo.astype("string").fillna("").astype(str).str.replace(r"[/._-]", " ", regex=True)
        )
    return text


def candidate_text(pool: pd.DataFrame) -> pd.Series:
    """The source's own words for each candidate: title, description, domain, repo name.

    The domain without `www.` and its last label: `fabiensanglard.net` gave the word `net`,
    which made every .net site "like" a past item about .NET."""
    repo = pool["repo_key"].astype("string").fillna("").astype(str)
    domain = pool["host"].astype(str).str.replace(_HOST_AFFIXES, "", regex=True)
    return (
        pool["title"].astype(str)
        + " "
        + pool["description"].astype("string").fillna("").astype(str)
        + " "
        + domain
        + " "
        + repo.str.replace(r"[/._-]", " ", regex=True)
    )


@functools.lru_cache(maxsize=1 << 15)
def _cached_tokens(text: str) -> tuple[str, ...]:
    """`title_tokens`, remembered: every training pool refits on nearly the same history."""
    return tuple(title_tokens(text))


@dataclass
class TextIndex:
    """TF-IDF over the curator's past items (the vocabulary is his)."""

    vectorizer: TfidfVectorizer
    matrix: object  # sparse, one row per past item
    items: pd.DataFrame

    @classmethod
    def fit(cls, items: pd.DataFrame) -> TextIndex | None:
        if items is None or len(items) < 2:
            return None
        vec = TfidfVectorizer(
            analyzer=_cached_tokens, min_df=1, max_df=0.5, sublinear_tf=True, dtype=np.float32
        )
        try:
            matrix = vec.fit_transform(history_text(items).tolist())
        except ValueError:  # empty vocabulary
            return None
        # Candidates are tokenised once each: remembering them would only evict history.
        vec.set_params(analyzer=title_tokens)
        return cls(vec, matrix, items.reset_index(drop=True))

    def similarity(self, texts: list[str]) -> np.ndarray:
        """Dense (n_texts, n_items) cosine similarity (history is small: a few thousand)."""
        x = self.vectorizer.transform(texts)
        return np.asarray((x @ self.matrix.T).toarray(), dtype=np.float64)


SIMILARITY_CHUNK = 4096


def _similarity_stats(
    index: TextIndex, texts: list[str], titles: list[str], recent_cols: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Per candidate: max and top-5 mean similarity to past items, the nearest item,
    max title similarity, max similarity to the last issues. Computed in row chunks so
    memory stays flat however large the pool is (R5)."""
    n = len(texts)
    sim_max = np.zeros(n)
    sim_top5 = np.zeros(n)
    best = np.zeros(n, dtype=np.int64)
    sim_title = np.zeros(n)
    recent = np.zeros(n)
    for start in range(0, n, SIMILARITY_CHUNK):
        stop = min(n, start + SIMILARITY_CHUNK)
        sim = index.similarity(texts[start:stop])
        # The 5 largest per row without a full sort; argmax keeps the first of equals.
        k = min(5, sim.shape[1])
        top = np.take_along_axis(sim, np.argpartition(-sim, k - 1, axis=1)[:, :k], axis=1)
        sim_max[start:stop] = sim.max(axis=1)
        sim_top5[start:stop] = top.mean(axis=1)
        best[start:stop] = sim.argmax(axis=1)
        if len(recent_cols):
            recent[start:stop] = sim[:, recent_cols].max(axis=1)
        sim_title[start:stop] = index.similarity(titles[start:stop]).max(axis=1)
    return sim_max, sim_top5, best, sim_title, recent


def _log(values: pd.Series) -> np.ndarray:
    v = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    v = np.where(np.isfinite(v) & (v > 0), v, 0.0)
    return np.log1p(v)


class _SourceLabels:
    """The `;`-joined source labels of each row, split once; a flag tests each distinct
    label once (a pool has a few hundred labels and up to millions of rows)."""

    def __init__(self, sources: pd.Series) -> None:
        codes, self.uniques = pd.factorize(sources.astype(str))
        self.codes = codes
        self.labels = [[p for p in str(v).split(";") if p] for v in self.uniques]

    def flag(self, predicate) -> np.ndarray:
        per_unique = np.array([float(any(predicate(p) for p in ls)) for ls in self.labels])
        return per_unique[self.codes] if len(per_unique) else np.zeros(len(self.codes))


def build_features(
    pool: pd.DataFrame, history_items: pd.DataFrame | None, as_of: dt.date, window_days: int
) -> pd.DataFrame:
    """Feature frame aligned with `pool` (same index), plus display columns.

    Display columns (not model inputs): nearest_past (title of the most similar past item,
    with its issue), nearest_sim.
    """
    n = len(pool)
    f = pd.DataFrame(index=pool.index)
    if n == 0:
        for c in [*FEATURES, "log_points", "nearest_past", "nearest_sim"]:
            f[c] = pd.Series(dtype="float64" if c != "nearest_past" else "object")
        return f
    hist = history_items if history_items is not None else pd.DataFrame()
    texts = candidate_text(pool).tolist()
    titles = pool["title"].astype(str).tolist()

    # relevance: similarity to past picks
    index = TextIndex.fit(hist) if len(hist) else None
    if index is not None:
        items = index.items
        recent_issues = sorted(items["issue_no"].unique())[-LAST_ISSUES_FOR_NOVELTY:]
        recent_cols = np.flatnonzero(items["issue_no"].isin(recent_issues).to_numpy())
        sim_max, sim_top5, best, sim_title, recent = _similarity_stats(
            index, texts, titles, recent_cols
        )
        f["sim_max"] = sim_max
        f["sim_top5"] = sim_top5
        f["sim_title"] = sim_title
        t_zh = items.get("title_zh", pd.Series([""] * len(items))).astype("string").fillna("")
        t_en = items.get("title_en", pd.Series([""] * len(items))).astype("string").fillna("")
        names = [
            f"#{int(no)} {zh or en}".strip()
            for no, zh, en in zip(items["issue_no"], t_zh, t_en, strict=True)
        ]
        label = [names[j] for j in best]
        f["nearest_past"] = label
        f["nearest_sim"] = sim_max
        f["recent_sim"] = recent
    else:
        for c in ("sim_max", "sim_top5", "sim_title", "nearest_sim", "recent_sim"):
            f[c] = 0.0
        f["nearest_past"] = ""
    f["kw_ai"] = [float(bool(_AI.search(t))) for t in texts]
    f["kw_tool"] = [float(bool(_TOOL.search(t))) for t in texts]
    # Chinese title or description: his readers are Chinese, and on trending:python such
    # projects were picked 2-4 times as often as the rest, in every period of the archive.
    f["zh_text"] = [float(bool(_CJK.search(t))) for t in texts]

    # python-ness
    lang = pool["language"].astype("string").fillna("").str.lower()
    f["lang_python"] = (lang == "python").astype(float).to_numpy()
    f["lang_other"] = ((lang != "python") & (lang != "")).astype(float).to_numpy()
    # The pool's `topics` (GitHub topics) and `on_pypi` (a pypi.org page, or a repository a
    # PyPI project names) come from every sighting of the item (pool.merge_sightings).
    topics = pool["topics"].fillna("").astype(str)
    python_texts = [f"{t} {x}" for t, x in zip(texts, topics, strict=True)]
    f["mentions_python"] = [float(_mentions_python(t)) for t in python_texts]
    f["is_pypi"] = pool["on_pypi"].astype(bool).astype(float).to_numpy()

    # momentum
    f["log_days_trending"] = _log(pool["days_trending"])
    pos = pd.to_numeric(pool["best_trending_position"], errors="coerce").to_numpy(float)
    f["trend_pos"] = np.where(np.isfinite(pos), 1.0 - (np.clip(pos, 1, 25) - 1) / 25.0, 0.0)
    # The top 3 of a trending page are picked far more often than position alone says.
    f["trend_top3"] = (np.isfinite(pos) & (pos <= 3)).astype(float)
    # Stars gained exist only for some sources (trending pages with a "stars today",
    # repositories we snapshot twice): judged against the median of the pool's candidates
    # that have a figure, so that having one is not itself a signal; 0 without one.
    gained = pd.to_numeric(pool["stars_gained"], errors="coerce").to_numpy(float)
    has = np.isfinite(gained)
    log_gained = _log(pool["stars_gained"])
    f["stars_gained_vs_pool"] = (
        np.where(has, log_gained - np.median(log_gained[has]), 0.0) if has.any() else 0.0
    )
    f["log_stars"] = _log(pool["stars"])
    f["log_points"] = _log(pool["points"])  # for the popularity baseline, not the model
    for column in ("points_vs_source", "comments_vs_source"):
        f[column] = pd.to_numeric(pool[column], errors="coerce").fillna(0.0).to_numpy(float)
    f["n_sources"] = pool["n_sources"].astype(float).to_numpy()

    # freshness (in window units, so a different window keeps the scale)
    def age(col: str) -> np.ndarray:
        d = pd.to_datetime(pool[col]).dt.date
        return np.array([(as_of - x).days if isinstance(x, dt.date) else window_days for x in d])

    first_days = age("first_seen")
    f["first_age"] = first_days / max(window_days, 1)
    f["last_age"] = age("last_seen") / max(window_days, 1)
    f["log_prior_days"] = _log(pool["prior_days"])
    f["new_this_week"] = ((first_days < 7) & (pool["prior_days"].to_numpy() == 0)).astype(float)
    # His weekly rhythm, not a straight line: items first seen 3-7 days before the issue
    # were picked most, those of the last 2 days a little less, older ones far less.
    f["first_seen_0_2d"] = (first_days <= 2).astype(float)
    f["first_seen_3_7d"] = ((first_days >= 3) & (first_days <= 7)).astype(float)

    # source prior
    src = _SourceLabels(pool["sources"])
    f["src_python_weekly"] = src.flag(lambda s: s.startswith("python_weekly"))
    f["src_pycoders"] = src.flag(lambda s: s.startswith("pycoders"))
    f["src_hellogithub_py"] = src.flag(
        lambda s: s.startswith("hellogithub") and ("Python" in s or "人工智能" in s)
    )
    f["src_hellogithub"] = src.flag(lambda s: s.startswith("hellogithub"))
    f["src_trending_python"] = src.flag(lambda s: s == "trending:python")
    f["src_trending_other"] = src.flag(
        lambda s: s.startswith("trending:") and s not in ("trending:python", "trending:all")
    )
    f["src_trending_all"] = src.flag(lambda s: s == "trending:all")
    f["src_hn"] = src.flag(lambda s: s.startswith("hn:"))
    hosts = pool["host"].astype(str)
    if len(hist):
        host_counts = hist["host"].astype("string").fillna("").value_counts()
        owners = hist["repo_key"].map(repo_owner).value_counts()
        n_hist = max(len(hist), 1)
    else:
        host_counts = pd.Series(dtype=float)
        owners = pd.Series(dtype=float)
        n_hist = 1
    hc = hosts.map(host_counts).fillna(0).to_numpy(float)
    f["log_host_picks"] = np.where(hosts == "github.com", 0.0, np.log1p(hc))
    owner = pool["repo_key"].map(repo_owner)
    f["log_owner_picks"] = np.log1p(owner.map(owners).fillna(0).to_numpy(float))
    f["host_rate"] = hc / n_hist
    for c in FEATURES:
        f[c] = np.nan_to_num(f[c].astype(float), nan=0.0, posinf=0.0, neginf=0.0)
    return f
