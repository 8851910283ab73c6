"""Scorers: scikit-learn estimators that turn feature frames into scores, deterministically.

`SignalScorer` is an additive model: a logistic regression over standardized features,
one model per section family (projects; text items = articles, audio/video, hot topics).
Because it is linear in the features, its score splits exactly into one contribution per
signal group (relevance, python, momentum, …) plus a `base` (the intercept): the
shortlist shows these columns and they sum to the score. The score is the log-odds that
the curator picks the item, relative to the other candidates of the same family.

Baselines for the backtest are estimators too: `RandomScorer` (seeded), `PopularityScorer`
(trending days and points), `SimilarityScorer` (TF-IDF similarity to past picks).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from ranking.features import FEATURES, SIGNAL_GROUPS

PROJECT_FAMILY = "project"
TEXT_FAMILY = "text"
# What a Python newsletter picks before the store holds any week of its own: weights on
# standardized features, hand-set per family. Their signs and sizes follow the fitted
# weights the archive gives (docs/RANKING.md): Python first, fresh, on the front of
# trending, not lingering in the sources for weeks, close in text to past picks. A fit
# with n positives is shrunk towards them with PRIOR_POSITIVES pseudo-positives, so a
# store with a few weeks of sightings starts from sense and learns away from it.
PRIOR_WEIGHTS: dict[str, dict[str, float]] = {
    PROJECT_FAMILY: {
        "sim_top5": 0.1,
        "zh_text": 0.3,
        "kw_tool": 0.1,
        "lang_python": 0.4,
        "lang_other": -0.6,
        "mentions_python": 0.2,
        "log_days_trending": 0.1,
        "trend_pos": 0.1,
        "trend_top3": 0.3,
        "first_age": -0.2,
        "last_age": -0.4,
        "log_prior_days": -0.8,
        "new_this_week": 0.2,
        "first_seen_3_7d": 0.2,
        "src_python_weekly": 0.4,
        "src_pycoders": 0.4,
        "src_hellogithub_py": 0.3,
        "src_trending_python": 0.3,
        "src_trending_other": -0.3,
        "host_rate": 0.3,
    },
    TEXT_FAMILY: {
        "sim_top5": 0.4,
        "zh_text": 0.2,
        "mentions_python": 0.9,
        "points_vs_source": 0.2,
        "first_age": -0.35,
        "last_age": -0.45,
        "first_seen_0_2d": 0.1,
        "first_seen_3_7d": 0.1,
        "src_python_weekly": 0.6,
        "src_hn": 0.2,
    },
}
PRIOR_POSITIVES = 20.0


def family_of(section: str) -> str:
    """The model family a section is scored with."""
    return PROJECT_FAMILY if section == "project" else TEXT_FAMILY


class _SignalEstimator(ClassifierMixin):
    """fit / transform / predict over `contributions` (one column per signal, + `base`):
    transform gives them, decision_function their row sum (the ranking score),
    predict_proba its logistic and predict whether it is above 0 (picked)."""

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return self.contributions(X)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return self.contributions(X).sum(axis=1).to_numpy()

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(int)


class LinearSignalModel(_SignalEstimator, BaseEstimator):
    """Standardize (z clipped to +-clip), then L2 logistic regression (lbfgs);
    contributions per signal group.

    With a `prior` (weight per standardized feature), the fitted weights from n positives
    are averaged with it as (n * fitted + prior_positives * prior) / (n + prior_positives);
    with no positive at all the weights are the prior's.
    """

    def __init__(
        self,
        groups: dict[str, list[str]] | None = None,
        C: float = 0.1,
        positive_weight: float = 1.0,
        max_iter: int = 500,
        clip: float = 4.0,
        prior: dict[str, float] | None = None,
        prior_positives: float = 0.0,
    ) -> None:
        self.groups = groups
        self.clip = clip
        self.prior = prior
        self.prior_positives = prior_positives
        self.C = C
        self.positive_weight = positive_weight
        self.max_iter = max_iter

    def _columns(self) -> list[str]:
        groups = self.groups or SIGNAL_GROUPS
        return [c for g in groups.values() for c in g]

    def fit(self, X: pd.DataFrame, y) -> LinearSignalModel:
        cols = self._columns()
        x = X[cols].to_numpy(dtype=np.float64)
        y = np.asarray(y, dtype=int)
        self.mean_ = x.mean(axis=0)
        scale = x.std(axis=0)
        self.scale_ = np.where(scale > 1e-9, scale, 1.0)
        z = np.clip((x - self.mean_) / self.scale_, -self.clip, self.clip)
        weights = np.where(y == 1, self.positive_weight, 1.0)
        self.classes_ = np.array([0, 1])
        prior = np.array([(self.prior or {}).get(c, 0.0) for c in cols], dtype=np.float64)
        n = int(y.sum())
        if n == 0 or n == len(y):
            self.coef_ = prior
            self.intercept_ = -5.0 if n == 0 else 5.0
        else:
            lr = LogisticRegression(C=self.C, solver="lbfgs", max_iter=self.max_iter)
            lr.fit(z, y, sample_weight=weights)
            k = self.prior_positives if self.prior else 0.0
            self.coef_ = (n * lr.coef_[0].astype(np.float64) + k * prior) / (n + k)
            self.intercept_ = float(lr.intercept_[0])
        self.columns_ = cols
        self.n_positives_ = int(y.sum())
        return self

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """One column per signal group (+ `base`); their row sum is decision_function."""
        x = X[self.columns_].to_numpy(dtype=np.float64)
        # Clipped like in fit: a feature value rare in training (a job ad seen before the
        # window, stars in a period without star data) cannot dominate the score.
        z = np.clip((x - self.mean_) / self.scale_, -self.clip, self.clip)
        parts = z * self.coef_
        out = pd.DataFrame(index=X.index)
        groups = self.groups or SIGNAL_GROUPS
        i = 0
        for name, cols in groups.items():
            out[name] = parts[:, i : i + len(cols)].sum(axis=1)
            i += len(cols)
        out["base"] = self.intercept_
        return out

    def weights(self) -> pd.DataFrame:
        """The learned weight of each (standardized) feature, for docs and notebooks."""
        rows = []
        for name, cols in (self.groups or SIGNAL_GROUPS).items():
            for c in cols:
                rows.append((name, c, float(self.coef_[self.columns_.index(c)])))
        return pd.DataFrame(rows, columns=["signal", "feature", "weight"])


class SignalScorer(_SignalEstimator, BaseEstimator):
    """One LinearSignalModel per section family; `section` column picks the family.

    Each family's fit is shrunk towards its PRIOR_WEIGHTS (see there); a family without
    training rows is standardized on all rows and scored by its prior alone.
    """

    def __init__(
        self, C: float = 0.1, positive_weight: float = 1.0, prior_positives: float = PRIOR_POSITIVES
    ) -> None:
        self.C = C
        self.positive_weight = positive_weight
        self.prior_positives = prior_positives

    def fit(self, X: pd.DataFrame, y) -> SignalScorer:
        y = np.asarray(y, dtype=int)
        self.classes_ = np.array([0, 1])  # a classifier: sklearn's scorers read it
        fam = X["section"].map(family_of).to_numpy()
        self.models_: dict[str, LinearSignalModel] = {}
        for family in (PROJECT_FAMILY, TEXT_FAMILY):
            mask = fam == family
            if not mask.any():
                mask, labels = np.ones(len(X), dtype=bool), np.zeros(len(X), dtype=int)
            else:
                labels = y[mask]
            self.models_[family] = LinearSignalModel(
                C=self.C,
                positive_weight=self.positive_weight,
                prior=PRIOR_WEIGHTS[family],
                prior_positives=self.prior_positives,
            ).fit(X[mask], labels)
        return self

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        cols = [*SIGNAL_GROUPS, "base"]
        out = pd.DataFrame(0.0, index=X.index, columns=cols)
        if len(X) == 0:
            return out
        fam = X["section"].map(family_of)
        for family in sorted(set(fam)):
            mask = (fam == family).to_numpy()
            out.loc[mask, cols] = self.models_[family].contributions(X[mask])[cols].to_numpy()
        return out


def _stable_noise(keys: pd.Series, seed: int) -> np.ndarray:
    """A deterministic pseudo-random number in [0, 1) per key (independent of row order)."""
    out = np.empty(len(keys))
    for i, k in enumerate(keys.astype(str)):
        h = hashlib.sha1(f"{seed}:{k}".encode()).digest()
        out[i] = int.from_bytes(h[:8], "big") / 2**64
    return out


class RandomScorer(BaseEstimator):
    """Baseline: a seeded random order (hash of seed and candidate id, order-independent)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, X: pd.DataFrame, y=None) -> RandomScorer:
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return _stable_noise(X["id"], self.seed)


class PopularityScorer(BaseEstimator):
    """Baseline: days on trending plus log points (what is loud right now)."""

    def fit(self, X: pd.DataFrame, y=None) -> PopularityScorer:
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return X["log_days_trending"].to_numpy() * 2.0 + X["log_points"].to_numpy()


class SimilarityScorer(BaseEstimator):
    """Baseline: TF-IDF cosine similarity to the nearest past pick."""

    def fit(self, X: pd.DataFrame, y=None) -> SimilarityScorer:
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return X["sim_max"].to_numpy()


__all__ = [
    "FEATURES",
    "LinearSignalModel",
    "PopularityScorer",
    "RandomScorer",
    "SignalScorer",
    "SimilarityScorer",
    "family_of",
]
