"""Export the public datasets used by make_r_reference.R to CSV (run once from the repo root).

    .venv/bin/python tests/evaluation/reference/export_data.py

The CSVs are committed so that R and the tests read exactly the same numbers; re-running this
script must leave them unchanged. Columns follow our vocabulary: ``time`` (dataset's own unit),
``event`` (0/1, 1 = observed), ``group`` (label), and a covariate used as a ``risk`` score.
"""

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def main() -> None:
    from lifelines.datasets import load_rossi, load_waltons
    from sksurv.datasets import load_veterans_lung_cancer

    w = load_waltons()
    pd.DataFrame({"time": w["T"], "event": w["E"].astype(int), "group": w["group"]}).to_csv(
        HERE / "waltons.csv", index=False)

    r = load_rossi()
    pd.DataFrame({"time": r["week"], "event": r["arrest"].astype(int),
                  "group": r["fin"].map({0: "no_aid", 1: "aid"}), "age": r["age"],
                  "prio": r["prio"]}).to_csv(HERE / "rossi.csv", index=False)

    x, y = load_veterans_lung_cancer()
    pd.DataFrame({"time": y["Survival_in_days"], "event": y["Status"].astype(int),
                  "group": x["Treatment"].astype(str), "karnofsky": x["Karnofsky_score"]}).to_csv(
        HERE / "veterans.csv", index=False)


if __name__ == "__main__":
    main()
