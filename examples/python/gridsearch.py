"""The seeds' case study: a hyperparameter grid search, run on parc.

Lecture 001 ("Case study: Parallelizing a hyperparameter search"): tune a
support vector classifier that sorts RGBA colours into "red" and "blue"
over C x kernel, each setting scored by k-fold cross-validation, with
scikit-learn's GridSearchCV and n_jobs=-1 -- every fit a task, on every
core. The program is the lecture's, and two lines are the whole change:
`import parc.joblib` and `joblib.parallel_backend("parc")`, so that
scikit-learn's fits run on parc's workers instead of loky's (joblib's
default). The "# original:" comment above each says what the lecture's
program has there.

    /usr/bin/python3 examples/python/gridsearch.py
    /usr/bin/python3 examples/python/gridsearch.py --samples 2000 --folds 3

With PYTHONPATH naming a built parc (build/python) and Debian's
python3-sklearn. The data are the same kind as examples/gridsearch's (the
C program): each channel a random byte scaled to [0, 1], a colour red when
R - B + noise x N(0, 1) > 0; here drawn with numpy's generator.
"""
import argparse
import time

import joblib
import numpy as np
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.svm import SVC

# original: (no line)
import parc.joblib  # registers joblib's "parc" backend


def make_colours(n, noise, seed):
    """n RGBA colours in [0, 1] and their labels, "red" or "blue"."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n, 4)) / 255.0
    red = X[:, 0] - X[:, 2] + noise * rng.standard_normal(n) > 0
    return X, np.where(red, "red", "blue")


def parse():
    ap = argparse.ArgumentParser(description="SVC grid search, red vs blue")
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=2021)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--C", default="0.001,0.025,2.5,5,10",
                    help="C values, comma-separated")
    ap.add_argument("--kernel", default="rbf,poly",
                    help="kernels, comma-separated")
    ap.add_argument("-j", "--jobs", type=int, default=-1,
                    help="n_jobs (default -1: every CPU)")
    return ap.parse_args()


def main():
    args = parse()
    X, y = make_colours(args.samples, args.noise, args.seed)
    grid = {"C": [float(c) for c in args.C.split(",")],
            "kernel": args.kernel.split(",")}
    n_fits = len(grid["C"]) * len(grid["kernel"]) * args.folds
    print("SVC grid search: %d RGBA colours, red vs blue (noise %g, seed %d)"
          % (args.samples, args.noise, args.seed))
    print("grid: C in {%s} x kernel in {%s} x %d folds = %d fits"
          % (", ".join("%g" % c for c in grid["C"]),
             ", ".join(grid["kernel"]), args.folds, n_fits))

    search = GridSearchCV(SVC(gamma="scale"), grid, cv=KFold(args.folds),
                          n_jobs=args.jobs)
    t0 = time.perf_counter()
    # original: with joblib.parallel_backend("loky"):
    with joblib.parallel_backend("parc"):
        search.fit(X, y)
    wall = time.perf_counter() - t0

    r = search.cv_results_
    print()
    print("%-10s %-8s %-19s %4s" % ("C", "kernel", "accuracy", "rank"))
    for i, p in enumerate(r["params"]):
        print("%-10g %-8s %.4f +/- %.4f  %6d"
              % (p["C"], p["kernel"], r["mean_test_score"][i],
                 r["std_test_score"][i], r["rank_test_score"][i]))
    best = search.best_params_
    print()
    print("best: C=%g kernel=%s  accuracy %.4f"
          % (best["C"], best["kernel"], search.best_score_))
    print("time: %.2f s (%d fits, the best refitted on all the data)"
          % (wall, n_fits))


if __name__ == "__main__":
    main()
