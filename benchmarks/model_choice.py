"""Model choice: the shipped scorer against non-linear alternatives on the dev archive.

    .venv/bin/python benchmarks/model_choice.py [--issues 2-85] [--models hgb,spline]
        [--without-feed NAME ...]

Replays each issue as `rank backtest` does (the pool as of the issue's date, a fit on the
training pools of every issue before it) and ranks each section's candidates by each
model's score alone (no quotas, no MMR, no domain cap), then prints recall@24 of the
reachable picks per section on the tuning range (#1-#40), the validation range (#41-#85)
and the latest sources (#69-#85), each model beside the shipped one measured in the same
run. Models, each fitted per section family like the shipped one:

- ``signal``: `ranking.scorers.SignalScorer` (standardized logistic regression shrunk
  towards the prior weights): what `rank` uses;
- ``hgb``: scikit-learn's HistGradientBoostingClassifier on the same features
  (interactions, monotone-free);
- ``spline``: logistic regression over quantile splines of every non-binary feature
  (non-linear but still one additive term per feature);
- ``-FEATURE`` (e.g. ``-kw_tool``): the shipped scorer without that feature (held constant
  in the training rows and the pool, so its standardized value is 0 and its weight, fitted
  or prior, adds nothing); ``--models ablation`` runs one such model per feature. Write
  ``--models=-kw_tool`` with ``=``: argparse reads a value that starts with a dash as an
  option.

``--without-feed NAME`` (repeatable) leaves feeds of the sightings file out, as in
`rank backtest`: ``--without-feed python_weekly --without-feed pycoders_weekly`` replays
the archive with the sources of the later weeks only.

Reads ../shared/datasets at run time. About 10 minutes on 2 cores (one minute or so more
per model; the ablation, 37 models, about an hour in one process).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import SplineTransformer, StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common as c

from ranking import store
from ranking.backtest import parse_issue_range
from ranking.features import FEATURES
from ranking.history import import_archive
from ranking.pool import DEFAULT_WINDOW_DAYS, pick_sections
from ranking.scorers import SignalScorer, family_of
from ranking.shortlist import history_items, scored_pool, training_pools, training_set

DATA = c.shared_path("datasets")
RANGES = {"tuning #1-#40": (1, 40), "validation #41-#85": (41, 85), "latest #69-#85": (69, 85)}
SECTIONS = ("project", "article")


def _hgb():
    return HistGradientBoostingClassifier(
        max_iter=200,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        random_state=0,
    )


def _spline(x: np.ndarray):
    many = [c for c in range(x.shape[1]) if len(np.unique(x[:, c])) > 5]
    splines = SplineTransformer(n_knots=4, degree=2, knots="quantile")
    columns = ColumnTransformer([("s", splines, many)], remainder="passthrough")
    return make_pipeline(columns, StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))


def scores(model: str, train: pd.DataFrame, y: np.ndarray, test: pd.DataFrame) -> np.ndarray:
    """Scores of the test rows; per section family for the alternatives."""
    if model == "signal":
        return SignalScorer().fit(train, y).decision_function(test)
    if model.startswith("-"):  # the shipped scorer without one feature
        feature = model[1:]
        train, test = train.assign(**{feature: 0.0}), test.assign(**{feature: 0.0})
        return SignalScorer().fit(train, y).decision_function(test)
    out = np.zeros(len(test))
    fam_train = train["section"].map(family_of).to_numpy()
    fam_test = test["section"].map(family_of).to_numpy()
    for family in set(fam_test):
        rows = fam_train == family
        x, labels = train.loc[rows, FEATURES].to_numpy(float), y[rows]
        xt = test.loc[fam_test == family, FEATURES].to_numpy(float)
        if labels.sum() < 3:  # too few picks for any fit: leave the family unranked
            continue
        est = _hgb() if model == "hgb" else _spline(x)
        out[fam_test == family] = est.fit(x, labels).decision_function(xt)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--issues", default="2-85")
    ap.add_argument(
        "--models",
        default="hgb,spline",
        help="beside signal (always run): hgb, spline, -FEATURE, or ablation (every -FEATURE)",
    )
    ap.add_argument("--without-feed", action="append", default=[], metavar="NAME")
    args = ap.parse_args()
    first, last = parse_issue_range(args.issues)
    names = [m for m in args.models.split(",") if m and m != "signal"]
    names = [n for m in names for n in ([f"-{f}" for f in FEATURES] if m == "ablation" else [m])]
    unknown = [m for m in names if m not in {"hgb", "spline", *(f"-{f}" for f in FEATURES)}]
    if unknown:
        ap.error(f"unknown model {unknown[0]!r}: hgb, spline, -FEATURE or ablation")
    models = ["signal", *names]
    with tempfile.TemporaryDirectory(prefix="radar-model-choice-") as tmp:
        con = store.connect(Path(tmp) / "store.duckdb")
        import_archive(con, DATA / "python-weekly")
        sightings = DATA / "sightings" / "sightings-2023-2025-01.parquet"
        store.load_sightings_file(con, sightings, tuple(args.without_feed))
        history = history_items(con, None)
        issues = history[["issue_no", "pub_date"]].drop_duplicates().sort_values("issue_no")
        cache: dict = {}
        ranks = []  # (issue, section, model, rank of a reachable pick)
        for issue_no, pub_date in issues.itertuples(index=False):
            if not first <= issue_no <= last:
                continue
            _pool, test = scored_pool(con, history, pub_date, DEFAULT_WINDOW_DAYS, cache)
            pools = training_pools(con, history, pub_date, DEFAULT_WINDOW_DAYS, cache)
            train, y = training_set(pools)
            if not len(test) or not y.sum():
                continue
            picks = pick_sections(test, history[history["issue_no"] == issue_no])
            test = test.assign(pick=picks)
            for model in models:
                ranked = test.assign(s=scores(model, train, y, test))
                for section in SECTIONS:
                    part = ranked[ranked["section"] == section]
                    part = part.sort_values(["s", "id"], ascending=[False, True])
                    for rank, pick in enumerate(part["pick"], start=1):
                        if pick == section:
                            ranks.append((issue_no, section, model, rank))
            print(f"#{issue_no}", end=" ", flush=True, file=sys.stderr)
        con.close()
    print(file=sys.stderr)
    hits = pd.DataFrame(ranks, columns=["issue_no", "section", "model", "rank"])
    left_out = "".join(f", without {f}" for f in args.without_feed)
    print(f"recall@24 of reachable picks, ranked by score alone (issues {first}-{last}{left_out})")
    print(f"{'range':<20} {'section':<8} " + " ".join(f"{m:>14}" for m in models))
    for name, (a, b) in RANGES.items():
        for section in SECTIONS:
            part = hits[hits["issue_no"].between(a, b) & (hits["section"] == section)]
            if not len(part):
                continue
            base = np.mean(part.loc[part["model"] == "signal", "rank"] <= 24)
            cells = []
            for m in models:
                r = np.mean(part.loc[part["model"] == m, "rank"] <= 24)
                cells.append(f"{r:.3f} ({r - base:+.3f})" if m != "signal" else f"{r:.3f}")
            n = int((part["model"] == models[0]).sum())
            print(f"{name:<20} {section:<8} " + " ".join(f"{c:>14}" for c in cells) + f"  n={n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
