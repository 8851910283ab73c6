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
MIN_POSITIVES = 5


def family_of(section: str) -> str:
    """The model family a section is scored with."""
    return PROJECT_FAMILY if section == "project" else TEXT_FAMILY


class LinearSignalModel(BaseEstimator, ClassifierMixin):
    """Standardize (z clipped to +-clip), then L2 logistic regression (lbfgs);
    contributions per signal group."""

    def __init__(
        self,
        groups: dict[str, list[str]] | None = None,
        C: float = 0.1,
        positive_weight: float = 1.0,
        max_iter: int = 500,
        clip: float = 4.0,
    ) -> None:
        self.groups = groups
        self.clip = clip
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
        if y.sum() == 0 or y.sum() == len(y):
            self.coef_ = np.zeros(len(cols))
            self.intercept_ = -5.0 if y.sum() == 0 else 5.0
        else:
            lr = LogisticRegression(C=self.C, solver="lbfgs", max_iter=self.max_iter)
            lr.fit(z, y, sample_weight=weights)
            self.coef_ = lr.coef_[0].astype(np.float64)
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

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return self.contributions(X).sum(axis=1).to_numpy()

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(int)

    def weights(self) -> pd.DataFrame:
        """The learned weight of each (standardized) feature, for docs and notebooks."""
        rows = []
        for name, cols in (self.groups or SIGNAL_GROUPS).items():
            for c in cols:
                rows.append((name, c, float(self.coef_[self.columns_.index(c)])))
        return pd.DataFrame(rows, columns=["signal", "feature", "weight"])


class SignalScorer(BaseEstimator):
    """One LinearSignalModel per section family; `section` column picks the family.

    A family with fewer than MIN_POSITIVES positives borrows the other family's model.
    """

    def __init__(self, C: float = 0.1, positive_weight: float = 1.0) -> None:
        self.C = C
        self.positive_weight = positive_weight

    def fit(self, X: pd.DataFrame, y) -> SignalScorer:
        y = np.asarray(y, dtype=int)
        fam = X["section"].map(family_of).to_numpy()
        self.models_: dict[str, LinearSignalModel] = {}
        for family in (PROJECT_FAMILY, TEXT_FAMILY):
            mask = fam == family
            if mask.sum() and y[mask].sum() >= MIN_POSITIVES:
                self.models_[family] = LinearSignalModel(
                    C=self.C, positive_weight=self.positive_weight
                ).fit(X[mask], y[mask])
        if not self.models_:
            self.models_["all"] = LinearSignalModel(
                C=self.C, positive_weight=self.positive_weight
            ).fit(X, y)
        return self

    def _model(self, family: str) -> LinearSignalModel:
        if family in self.models_:
            return self.models_[family]
        return next(iter(self.models_.values()))

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        cols = [*SIGNAL_GROUPS, "base"]
        out = pd.DataFrame(0.0, index=X.index, columns=cols)
        if len(X) == 0:
            return out
        fam = X["section"].map(family_of)
        for family in sorted(set(fam)):
            mask = (fam == family).to_numpy()
            out.loc[mask, cols] = self._model(family).contributions(X[mask])[cols].to_numpy()
        return out

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return self.contributions(X).sum(axis=1).to_numpy()


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
