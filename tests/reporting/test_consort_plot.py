import datetime as dt

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from hccfusion.errors import DataError  # noqa: E402
from hccfusion.reporting.consort import plot_consort  # noqa: E402


def _flow():
    rows = []
    for center, assessed, old, missing_ecog in (("WX", 10, 2, 1), ("NJ", 6, 1, 0),
                                                 ("all", 16, 3, 1)):
        rows += [
            dict(cohort="retrospective", center=center, step=0, stage="assessed", rule=None,
                 label="Assessed for eligibility", n=assessed, n_unknown=0),
            dict(cohort="retrospective", center=center, step=1, stage="excluded",
                 rule="age_18_80", label="Age outside 18–80 years", n=old, n_unknown=0),
            dict(cohort="retrospective", center=center, step=2, stage="excluded",
                 rule="ecog_0_2", label="ECOG performance status > 2", n=missing_ecog,
                 n_unknown=missing_ecog),
            dict(cohort="retrospective", center=center, step=3, stage="excluded",
                 rule="bclc_a_b_c", label="BCLC stage not A, B or C", n=0, n_unknown=0),
            dict(cohort="retrospective", center=center, step=4, stage="included", rule=None,
                 label="Included", n=assessed - old - missing_ecog, n_unknown=0),
        ]
    return pd.DataFrame(rows)


def test_plot_shows_totals_and_per_centre_counts():
    ax = plot_consort(_flow())
    texts = "\n".join(t.get_text() for t in ax.texts)
    assert "Assessed for eligibility\nn = 16 (WX 10, NJ 6)" in texts
    assert "Included\nn = 12 (WX 7, NJ 5)" in texts
    assert "Excluded n = 4" in texts
    assert "• Age outside 18–80 years: 3 (WX 2, NJ 1)" in texts
    assert "ECOG performance status > 2: 1 (WX 1, NJ 0; 1 missing data)" in texts
    assert "BCLC" not in texts  # steps that excluded nobody are not listed
    arrows = [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    assert len(arrows) == 2  # assessed → included, and the branch to the excluded box
    plt.close(ax.figure)


def test_plot_draws_on_given_axes_one_column_per_cohort():
    flow = _flow()
    pro = flow.copy()
    pro["cohort"] = "prospective"
    fig, ax = plt.subplots()
    out = plot_consort(pd.concat([flow, pro]), ax=ax)
    assert out is ax
    titles = [t.get_text() for t in ax.texts if t.get_text().endswith("cohort")]
    assert titles == ["Retrospective cohort", "Prospective cohort"]
    plt.close(fig)


def test_bad_flow_is_a_data_error():
    with pytest.raises(DataError, match="lacks columns"):
        plot_consort(pd.DataFrame({"n": [1]}))
    with pytest.raises(DataError, match="empty"):
        plot_consort(_flow().iloc[0:0])


def test_plot_of_a_real_assessment(tmp_path):
    from hccfusion.clinical.eligibility import EligibilitySettings, assess_eligibility
    from hccfusion.io.schema import coerce_table

    patients = coerce_table("patients", pd.DataFrame([
        dict(patient_id="WX-1", center="WX", cohort="retrospective", age_years=90, sex="M",
             ecog=0, bclc="B", tumour_number=1, largest_diameter_mm=40.0,
             extrahepatic_spread=False)]))
    res = assess_eligibility({"patients": patients},
                             settings=EligibilitySettings(cutoff=dt.date(2024, 6, 30)))
    ax = plot_consort(res.flow)
    ax.figure.savefig(tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
    assert any("n = 1 (WX 1)" in t.get_text() for t in ax.texts)
    plt.close(ax.figure)
