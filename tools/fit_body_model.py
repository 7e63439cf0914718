"""Fit the girth model of tryon_server/measurements.py on the ANSUR II survey tables.

    .venv/bin/python tools/fit_body_model.py [--data ../shared/data/ansur2] [--out tryon_server/data/body_model.json]

Run by hand when the model changes, never at install: the survey tables (public domain, about
6,000 adults) stay outside the project; only the fitted numbers are committed.

The model. Per sex, the logarithms of the body dimensions a front photo can give (stature,
weight when the user gives it, bideltoid breadth, and the chest, waist and hip breadths) and of
the three girths a size chart needs (chest, waist at the navel, buttock/hip), of the shoulder
(biacromial) breadth and of the inseam (crotch height) are taken as one
multivariate normal: its mean and covariance are the whole fit. Predicting a girth is conditioning
that normal on what was observed; with exact observations this is ordinary least squares on the
observed variables, and a breadth read from a photo is observed with noise by adding the photo's
variance to its diagonal, so a doubtful breadth pulls the answer towards what the height alone
says instead of away from any human body. With sex unknown the two sexes are a mixture, weighted
by how well each explains what was seen.

Besides the normal, the file carries what the server needs around it: where the survey puts the
chest, waist and hip levels between the shoulders and the hips (so the photo is read at the same
levels), the 1st-99th percentile band of each girth by stature (for checks), the cross-validated
error of each input set (the floor of what a photo can do) and reference predictions made here by
a plain least-squares fit, which the tests reproduce through the server's code path.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

# model variable -> ANSUR II column (millimetres; weight in tenths of a kilogram)
VARIABLES = {
    "stature": "stature",
    "weight": "weightkg",
    "bideltoid_breadth": "bideltoidbreadth",
    "chest_breadth": "chestbreadth",
    "waist_breadth": "waistbreadth",
    "hip_breadth": "hipbreadth",
    "chest": "chestcircumference",
    "waist": "waistcircumference",
    "hip": "buttockcircumference",
    "shoulder_width": "biacromialbreadth",
    "inseam": "crotchheight",
}
SCALE = {name: 0.1 for name in VARIABLES}  # to cm (and kg for weight)
# what the server predicts: the three girths of the size chart, the shoulder (biacromial)
# breadth, which the photo cannot read directly (the deltoids and sleeves hide the acromions), and
# the inseam (crotch height), which the photo reads only roughly (a trousers' crotch hangs lower)
TARGETS = ["chest", "waist", "hip", "shoulder_width", "inseam"]
GIRTHS = ["chest", "waist", "hip"]
BREADTHS = ["bideltoid_breadth", "chest_breadth", "waist_breadth", "hip_breadth"]
# the input sets whose cross-validated error is reported: what the user types, what the photo adds
INPUT_SETS = {
    "height": ["stature"],
    "height+weight": ["stature", "weight"],
    "height+photo": ["stature", *BREADTHS],
    "height+weight+photo": ["stature", "weight", *BREADTHS],
    "height+noisy_photo": ["stature", *BREADTHS],
}
# The breadths' standard deviation (cm) a typical photo gets from the server (mask edges, clothing,
# an arm against the body, the scale): the "noisy_photo" input set adds this much random error to
# the survey's breadths, to show what a photo, rather than a tape, can be expected to give.
PHOTO_NOISE_CM = {"bideltoid_breadth": 2.0, "chest_breadth": 2.5, "waist_breadth": 2.8, "hip_breadth": 2.8}
# heights of the survey's levels (column), located in the photo between two landmarks' survey
# counterparts: the shoulder (acromion) and the hip joint (trochanterion)
LEVELS = {"chest": "chestheight", "waist": "waistheightomphalion", "hip": "buttockheight"}
FOLDS = 10
SEED = 14


def load(data: Path) -> dict[str, dict[str, np.ndarray]]:
    """{"male": {column: values}, "female": {...}} from the two public CSV files."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for sex, name in (("male", "ANSUR_II_MALE_Public.csv"), ("female", "ANSUR_II_FEMALE_Public.csv")):
        with open(data / name, encoding="latin-1", newline="") as f:  # the male file is not UTF-8
            rows = list(csv.DictReader(f))
        columns = set(VARIABLES.values()) | set(LEVELS.values()) | {"acromialheight", "trochanterionheight"}
        out[sex] = {c: np.array([float(r[c]) for r in rows]) for c in sorted(columns)}
    return out


def matrix(table: dict[str, np.ndarray]) -> np.ndarray:
    """Rows of log(cm) values in the order of VARIABLES."""
    return np.log(np.column_stack([table[col] * SCALE[name] for name, col in VARIABLES.items()]))


def gaussian(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(0), np.cov(x, rowvar=False)


def condition(mean: np.ndarray, cov: np.ndarray, observed: list[int], values: np.ndarray,
              targets: list[int], noise: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean (per row of `values`) and covariance of `targets` given `observed` values, exact or
    with `noise` (variances in log units, per observed variable)."""
    s_oo = cov[np.ix_(observed, observed)] + (np.diag(noise) if noise is not None else 0.0)
    s_to = cov[np.ix_(targets, observed)]
    gain = np.linalg.solve(s_oo, s_to.T).T
    mu = mean[targets] + (values - mean[observed]) @ gain.T
    return mu, cov[np.ix_(targets, targets)] - gain @ s_to.T


def photo_noise_cm(obs: list[int]) -> np.ndarray:
    names = list(VARIABLES)
    return np.array([PHOTO_NOISE_CM.get(names[i], 0.0) for i in obs])


def observe(test: np.ndarray, obs: list[int], noisy: bool, rng: np.random.Generator) -> np.ndarray:
    """The observed columns of `test` (log cm), with photo-like noise added when `noisy`."""
    values = test[:, obs].copy()
    if noisy:
        values = np.log(np.maximum(np.exp(values) + rng.normal(0.0, 1.0, values.shape) * photo_noise_cm(obs), 1.0))
    return values


def noise_var(obs: list[int], mean: np.ndarray, noisy: bool) -> np.ndarray | None:
    """The photo noise's variance in log units at the population mean (None when exact)."""
    return (photo_noise_cm(obs) / np.exp(mean[obs])) ** 2 if noisy else None


def cross_validate(x: np.ndarray, inputs: list[str], noisy: bool = False) -> dict[str, dict[str, float]]:
    """10-fold cross-validated mean absolute error, RMSE (cm) and 68 % interval coverage."""
    names = list(VARIABLES)
    obs = [names.index(n) for n in inputs]
    tgt = [names.index(n) for n in TARGETS]
    rng = np.random.default_rng(SEED)
    folds = rng.permutation(len(x)) % FOLDS
    errors, inside = [], []
    for k in range(FOLDS):
        train, test = x[folds != k], x[folds == k]
        mean, cov = gaussian(train)
        values = observe(test, obs, noisy, rng)
        mu, c = condition(mean, cov, obs, values, tgt, noise_var(obs, mean, noisy))
        sd = np.sqrt(np.diag(c))
        truth = np.exp(test[:, tgt])
        errors.append(np.exp(mu) - truth)
        inside.append(np.abs(test[:, tgt] - mu) <= sd)
    err, ins = np.vstack(errors), np.vstack(inside)
    return {g: {"mae_cm": round(float(np.abs(err[:, i]).mean()), 2),
                "rmse_cm": round(float(np.sqrt((err[:, i] ** 2).mean())), 2),
                "within_1sd": round(float(ins[:, i].mean()), 3)} for i, g in enumerate(TARGETS)}


def cross_validate_unknown_sex(x: dict[str, np.ndarray], inputs: list[str],
                               noisy: bool = False) -> dict[str, dict[str, float]]:
    """The same with sex unknown: each test person is predicted by the two-sex mixture with equal
    prior weights (the survey's 2:1 men is not the users' ratio)."""
    names = list(VARIABLES)
    obs = [names.index(n) for n in inputs]
    tgt = [names.index(n) for n in TARGETS]
    rng = np.random.default_rng(SEED)
    folds = {s: rng.permutation(len(v)) % FOLDS for s, v in x.items()}
    errors = []
    for k in range(FOLDS):
        models = {s: gaussian(v[folds[s] != k]) for s, v in x.items()}
        for s, v in x.items():
            test = v[folds[s] == k]
            values = observe(test, obs, noisy, rng)
            mus, logl = [], []
            for mean, cov in models.values():
                noise = noise_var(obs, mean, noisy)
                mu, _ = condition(mean, cov, obs, values, tgt, noise)
                d = values - mean[obs]
                s_oo = cov[np.ix_(obs, obs)] + (np.diag(noise) if noise is not None else 0.0)
                maha = np.einsum("ij,ij->i", d, np.linalg.solve(s_oo, d.T).T)
                logl.append(-0.5 * maha - 0.5 * np.linalg.slogdet(s_oo)[1])
                mus.append(np.exp(mu))
            ll = np.vstack(logl)
            w = np.exp(ll - ll.max(0))
            w /= w.sum(0)
            pred = sum(w[i][:, None] * mus[i] for i in range(len(mus)))
            errors.append(pred - np.exp(test[:, tgt]))
    err = np.vstack(errors)
    return {g: {"mae_cm": round(float(np.abs(err[:, i]).mean()), 2),
                "rmse_cm": round(float(np.sqrt((err[:, i] ** 2).mean())), 2)} for i, g in enumerate(TARGETS)}


def levels(table: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Each girth's level as a fraction of the way from the acromion down to the trochanterion
    (can exceed 1: the buttock level lies a little below the hip joint)."""
    top, bottom = table["acromialheight"], table["trochanterionheight"]
    out = {}
    for name, col in LEVELS.items():
        t = (top - table[col]) / (top - bottom)
        out[name] = {"mean": round(float(t.mean()), 4), "sd": round(float(t.std()), 4)}
    return out


def bands(tables: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """1st and 99th percentiles of each girth and breadth among people within 6 cm of a stature,
    every 2 cm from 150 to 200 cm: both sexes together ("any") and each sex alone."""
    out: dict[str, Any] = {"stature_cm": list(range(150, 201, 2)), "window_cm": 6}
    groups = {"any": list(tables.values()), **{sex: [t] for sex, t in tables.items()}}
    for group, members in groups.items():
        stature = np.concatenate([t["stature"] for t in members]) * 0.1
        out[group] = {}
        for name in (*GIRTHS, "bideltoid_breadth", "shoulder_width", "inseam"):
            values = np.concatenate([t[VARIABLES[name]] for t in members]) * 0.1
            rows = []
            for s in out["stature_cm"]:
                near = values[np.abs(stature - s) <= out["window_cm"]]
                rows.append([round(float(np.percentile(near, 1)), 1), round(float(np.percentile(near, 99)), 1)]
                            if len(near) >= 50 else None)  # too few people of that height to say
            out[group][name] = rows
    return out


def references(x: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Predictions by a plain least-squares fit (log girth on log inputs, intercept), for a few
    made-up people: the server's conditioning of the normal must give the same numbers."""
    names = list(VARIABLES)
    people = [
        {"sex": "male", "stature": 178.0, "bideltoid_breadth": 50.0, "chest_breadth": 30.0,
         "waist_breadth": 31.0, "hip_breadth": 34.0},
        {"sex": "female", "stature": 163.0, "weight": 60.0},
        {"sex": "female", "stature": 170.0, "weight": 75.0, "bideltoid_breadth": 45.0, "chest_breadth": 27.0,
         "waist_breadth": 30.0, "hip_breadth": 37.0},
        {"sex": "male", "stature": 185.0},
    ]
    out = []
    for person in people:
        data = x[person["sex"]]
        inputs = [n for n in names if n in person]
        a = np.column_stack([np.ones(len(data))] + [data[:, names.index(n)] for n in inputs])
        row = np.array([1.0] + [np.log(person[n]) for n in inputs])
        expected = {}
        for g in TARGETS:
            coef, *_ = np.linalg.lstsq(a, data[:, names.index(g)], rcond=None)
            expected[g] = round(float(np.exp(row @ coef)), 3)  # the median: exp of the mean log
        out.append({"inputs": person, "expected_cm": expected})
    return out


def fit(data: Path) -> dict[str, Any]:
    tables = load(data)
    x = {sex: matrix(t) for sex, t in tables.items()}
    digest = hashlib.sha256()
    for name in ("ANSUR_II_FEMALE_Public.csv", "ANSUR_II_MALE_Public.csv"):
        digest.update((data / name).read_bytes())
    model: dict[str, Any] = {
        "about": "Fitted by tools/fit_body_model.py on the ANSUR II public tables (2012 U.S. Army "
                 "Anthropometric Survey, public domain). Per sex, the mean and covariance of the natural "
                 "logarithms of the variables, in cm (weight in kg). Do not edit by hand: rerun the script.",
        "source_sha256": digest.hexdigest(),
        "subjects": {sex: int(len(v)) for sex, v in x.items()},
        "variables": list(VARIABLES),
        "survey_columns": VARIABLES,
        "sexes": {},
        "levels": {},
        "cross_validation": {},
        "photo_noise_cm": PHOTO_NOISE_CM,
    }
    for sex, v in x.items():
        mean, cov = gaussian(v)
        model["sexes"][sex] = {"mean": [round(float(m), 6) for m in mean],
                               "cov": [[float(f"{c:.6e}") for c in row] for row in cov]}
        model["levels"][sex] = levels(tables[sex])
    for label, inputs in INPUT_SETS.items():
        noisy = label.endswith("noisy_photo")
        model["cross_validation"][label] = {sex: cross_validate(v, inputs, noisy) for sex, v in x.items()}
        model["cross_validation"][label]["sex_unknown"] = cross_validate_unknown_sex(x, inputs, noisy)
    model["bands"] = bands(tables)
    model["references"] = references(x)
    return model


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=root.parent / "shared" / "data" / "ansur2")
    parser.add_argument("--out", type=Path, default=root / "tryon_server" / "data" / "body_model.json")
    args = parser.parse_args()
    model = fit(args.data)
    args.out.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    for label, per_sex in model["cross_validation"].items():
        for sex, res in per_sex.items():
            print(f"{label:22s} {sex:12s} " + "  ".join(f"{g} MAE {r['mae_cm']:5.2f} cm" for g, r in res.items()))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
