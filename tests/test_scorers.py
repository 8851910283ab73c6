"""Scorers: estimators whose contributions add up to the score, deterministic baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import get_scorer

from ranking.features import FEATURES, SIGNAL_GROUPS
from ranking.scorers import (
    PRIOR_POSITIVES,
    PRIOR_WEIGHTS,
    PROJECT_FAMILY,
    TEXT_FAMILY,
    LinearSignalModel,
    PopularityScorer,
    RandomScorer,
    SignalScorer,
    SimilarityScorer,
)


def data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    x["log_points"] = np.abs(rng.normal(size=n))  # the popularity baseline's input
    y = x["log_days_trending"] + 0.5 * x["sim_max"] + rng.normal(scale=0.5, size=n) > 1.5
    x["section"] = np.where(np.arange(n) % 2 == 0, "project", "article")
    x["id"] = [f"c-{i:010x}" for i in range(n)]
    return x, y.astype(int).to_numpy()


def test_contributions_sum_to_the_decision_function():
    x, y = data()
    model = LinearSignalModel().fit(x, y)
    contrib = model.contributions(x)
    assert list(contrib.columns) == [*SIGNAL_GROUPS, "base"]
    np.testing.assert_allclose(contrib.sum(axis=1), model.decision_function(x))
    assert model.weights().set_index("feature").loc["log_days_trending", "weight"] > 0


def test_fit_is_deterministic_and_init_only_stores_params():
    x, y = data()
    a = SignalScorer().fit(x, y).decision_function(x)
    b = SignalScorer().fit(x.copy(), y.copy()).decision_function(x)
    assert np.array_equal(a, b)
    assert SignalScorer(C=2.0).get_params() == {
        "C": 2.0,
        "positive_weight": 1.0,
        "prior_positives": PRIOR_POSITIVES,
    }


def test_a_family_without_positives_is_scored_by_its_prior():
    x, y = data()
    y = np.where(x["section"] == "project", y, 0)
    scorer = SignalScorer().fit(x, y)
    assert set(scorer.models_) == {PROJECT_FAMILY, TEXT_FAMILY}
    text = scorer.models_[TEXT_FAMILY]
    assert text.n_positives_ == 0
    weights = text.weights().set_index("feature")["weight"]
    expected = pd.Series(PRIOR_WEIGHTS[TEXT_FAMILY]).reindex(weights.index).fillna(0.0)
    assert np.allclose(weights, expected)
    assert np.isfinite(scorer.contributions(x).to_numpy()).all()


def test_a_fit_is_shrunk_towards_the_prior_by_its_number_of_positives():
    x, y = data()
    prior = {"trend_pos": -1.0}
    plain = LinearSignalModel().fit(x, y)
    assert plain.coef_[FEATURES.index("trend_pos")] != -1.0
    for k in (0.0, 20.0, 1e6):
        m = LinearSignalModel(prior=prior, prior_positives=k).fit(x, y)
        n = y.sum()
        w = (n * plain.coef_ + k * np.where(np.array(FEATURES) == "trend_pos", -1.0, 0.0)) / (n + k)
        assert np.allclose(m.coef_, w)
    assert np.allclose(m.coef_[FEATURES.index("trend_pos")], -1.0, atol=1e-3)


def test_the_prior_names_only_known_features_and_prefers_fresh_python():
    for family, weights in PRIOR_WEIGHTS.items():
        assert set(weights) <= set(FEATURES), family
        assert weights["mentions_python"] > 0 and weights["last_age"] < 0, family


def test_no_positive_at_all_gives_a_constant_model():
    x, _ = data(50)
    model = LinearSignalModel().fit(x, np.zeros(50, dtype=int))
    assert np.all(model.decision_function(x) == model.decision_function(x)[0])


def test_baselines_are_deterministic_and_order_independent():
    x, _ = data(100)
    r1 = RandomScorer(seed=3).decision_function(x)
    r2 = RandomScorer(seed=3).decision_function(x.iloc[::-1])[::-1]
    assert np.array_equal(r1, r2)
    assert not np.array_equal(r1, RandomScorer(seed=4).decision_function(x))
    assert PopularityScorer().decision_function(x).shape == (100,)
    assert np.array_equal(SimilarityScorer().decision_function(x), x["sim_max"].to_numpy())


def test_the_scorer_fits_transforms_and_predicts_as_a_scikit_learn_estimator():
    # fit / transform / predict on the scorer the shortlist uses: transform gives one
    # column per signal (+ base), whose row sum is the score; predict_proba its logistic.
    x, y = data()
    scorer = SignalScorer()
    signals = scorer.fit(x, y).transform(x)
    assert list(signals.columns) == [*SIGNAL_GROUPS, "base"]
    np.testing.assert_allclose(signals.sum(axis=1), scorer.decision_function(x))
    proba = scorer.predict_proba(x)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-scorer.decision_function(x))))
    assert np.array_equal(scorer.predict(x), (proba[:, 1] > 0.5).astype(int))
    assert set(scorer.predict(x)) <= {0, 1}
    assert scorer.get_params()["C"] == 0.1  # a BaseEstimator: clone, set_params, ...
    # A classifier to scikit-learn's own scoring, e.g. the area under the ROC curve.
    for name in ("roc_auc", "average_precision", "neg_log_loss"):
        assert np.isfinite(get_scorer(name)(scorer, x, y)), name


def test_each_family_model_is_a_classifier_that_agrees_with_the_ranking_score():
    # The estimator API (fit, the contributions that make the score, predict_proba,
    # predict) on the models SignalScorer ranks with: the probability is the logistic of
    # the score the shortlist sorts by, and predict says "pick" exactly when it is > 0.5.
    x, y = data()
    scorer = SignalScorer().fit(x, y)
    family = np.where(x["section"] == "project", PROJECT_FAMILY, TEXT_FAMILY)
    for name, model in scorer.models_.items():
        rows = x[family == name]
        score = scorer.contributions(rows).sum(axis=1).to_numpy()
        proba = model.predict_proba(rows)
        assert proba.shape == (len(rows), 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-score)))
        assert np.array_equal(model.predict(rows), (proba[:, 1] > 0.5).astype(int))
        assert np.array_equal(model.predict(rows), (score > 0).astype(int))
        by_score = np.argsort(-score, kind="stable")
        assert np.all(np.diff(proba[by_score, 1]) <= 0)  # same order as the score
