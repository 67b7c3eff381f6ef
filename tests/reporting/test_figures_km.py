import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from hccfusion.errors import DataError, UsageError  # noqa: E402
from hccfusion.reporting.figures import plot_km  # noqa: E402
from hccfusion.reporting.figures.km import AT_RISK_GID  # noqa: E402

MONTH = 30.4375
TICKS_MONTHS = (0, 6, 12, 18, 24, 30, 36)


def _cohort(seed=7):
    rng = np.random.default_rng(seed)
    rows = []
    for group, scale, n in (("Low risk", 900.0, 40), ("High risk", 380.0, 35)):
        t = np.ceil(rng.exponential(scale, n))
        c = rng.uniform(200, 1200, n)
        rows.append(pd.DataFrame({"group": group, "time": np.minimum(t, np.ceil(c)),
                                  "event": t <= c}))
    return pd.concat(rows, ignore_index=True)


def _km_tables(cohort):
    """KM table from lifelines (independent producer; log-log CIs by default)."""
    from lifelines import KaplanMeierFitter

    km_rows, risk_rows = [], []
    for group, part in cohort.groupby("group", sort=False):
        kmf = KaplanMeierFitter().fit(part["time"], part["event"])
        ci = kmf.confidence_interval_survival_function_
        et = kmf.event_table
        km_rows.append(pd.DataFrame({
            "group": group, "time": kmf.survival_function_.index.to_numpy(float),
            "surv": kmf.survival_function_.iloc[:, 0].to_numpy(),
            "ci_low": ci.iloc[:, 0].to_numpy(), "ci_high": ci.iloc[:, 1].to_numpy(),
            "n_censored": et["censored"].reindex(kmf.survival_function_.index).to_numpy()}))
        for m in TICKS_MONTHS:
            risk_rows.append({"group": group, "time": m * MONTH,
                              "n_at_risk": int((part["time"] >= m * MONTH).sum())})
    return pd.concat(km_rows, ignore_index=True), pd.DataFrame(risk_rows)


@pytest.fixture(scope="module")
def tables():
    return _km_tables(_cohort())


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _curve_lines(ax):
    return [ln for ln in ax.get_lines() if (ln.get_gid() or "").startswith("km-")
            and not (ln.get_gid() or "").startswith(("km-censor", "km-median"))]


def test_one_step_line_per_group_in_months_starting_at_one(tables):
    km, _ = tables
    ax = plot_km(km)
    lines = _curve_lines(ax)
    assert [ln.get_label() for ln in lines] == ["Low risk", "High risk"]
    for ln in lines:
        x, y = ln.get_data()
        assert x[0] == 0 and y[0] == 1.0
        assert np.all(np.diff(y) <= 1e-12)  # survival never rises
        group = ln.get_label()
        last = km.loc[km["group"] == group, "time"].max()
        assert x[-1] == pytest.approx(last / MONTH)
    assert ax.get_ylim() == (0.0, 1.0)
    assert "months" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Low risk", "High risk"]


def test_at_risk_numbers_equal_input_and_align_with_ticks(tables):
    km, at_risk = tables
    ax = plot_km(km, at_risk=at_risk)
    assert list(ax.get_xticks()) == pytest.approx(list(TICKS_MONTHS))
    numbers = [t for t in ax.texts if t.get_gid() == AT_RISK_GID]
    assert len(numbers) == len(at_risk)
    drawn = sorted((round(t.get_position()[0], 6), int(t.get_text())) for t in numbers)
    expected = sorted((round(r.time / MONTH, 6), int(r.n_at_risk)) for r in at_risk.itertuples())
    assert drawn == expected
    # rows are coloured like their curves, and each group label is present
    labels = {t.get_text(): t.get_color() for t in ax.texts
              if t.get_gid() == AT_RISK_GID + "-label"}
    curves = {ln.get_label(): ln.get_color() for ln in _curve_lines(ax)}
    assert labels == curves
    # every group's row sits on its own height
    heights = {}
    for t in numbers:
        y_disp = t.get_transform().transform(t.get_position())[1]
        heights.setdefault(round(y_disp, 3), 0)
    assert len(heights) == 2


def test_p_value_and_censor_ticks_and_ci_bands(tables):
    km, _ = tables
    ax = plot_km(km, p_value=0.00042)
    assert any(t.get_text() == "Log-rank p < 0.001" for t in ax.texts)
    ax2 = plot_km(km, p_value=0.0372)
    assert any(t.get_text() == "Log-rank p = 0.037" for t in ax2.texts)
    censors = [ln for ln in ax.get_lines() if (ln.get_gid() or "").startswith("km-censor")]
    n_rows = int((km["n_censored"] > 0).sum())
    assert sum(len(ln.get_xdata()) for ln in censors) == n_rows
    bands = [c for c in ax.collections if (c.get_gid() or "").startswith("km-ci-")]
    assert len(bands) == 2


def test_median_lines_hit_half_at_the_km_median(tables):
    km, _ = tables
    ax = plot_km(km, show_median=True)
    medians = {ln.get_gid(): ln.get_xdata()[1] for ln in ax.get_lines()
               if (ln.get_gid() or "").startswith("km-median")}
    for group in ("Low risk", "High risk"):
        block = km.loc[km["group"] == group]
        expected = block.loc[block["surv"] <= 0.5, "time"].min() / MONTH
        assert medians[f"km-median-{group}"] == pytest.approx(expected)


def test_group_order_colors_and_time_unit(tables):
    km, _ = tables
    ax = plot_km(km, group_order=["High risk", "Low risk"], colors=["#111111", "#222222"],
                 time_unit="years")
    lines = _curve_lines(ax)
    assert [ln.get_label() for ln in lines] == ["High risk", "Low risk"]
    assert [ln.get_color() for ln in lines] == ["#111111", "#222222"]
    x_max = max(ln.get_xdata()[-1] for ln in lines)
    assert x_max == pytest.approx(km["time"].max() / 365.25)


def test_draws_on_given_axes_and_saves_png_and_svg(tables, tmp_path):
    km, at_risk = tables
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    ax = plot_km(km, at_risk=at_risk, p_value=0.01, ax=axes[1])
    assert ax is axes[1]
    assert not axes[0].get_lines()
    for ext in ("png", "svg"):
        path = tmp_path / f"km.{ext}"
        fig.savefig(path, bbox_inches="tight")
        assert path.stat().st_size > 1000
    svg = (tmp_path / "km.svg").read_text()
    assert "Number at risk" in svg and "Log-rank p = 0.010" in svg


def test_rejects_bad_inputs(tables):
    km, at_risk = tables
    with pytest.raises(DataError, match=r"lacks columns \['ci_high'\]"):
        plot_km(km.drop(columns="ci_high"))
    with pytest.raises(DataError, match="'surv' = 1.2"):
        plot_km(km.assign(surv=km["surv"].where(km.index != 3, 1.2)))
    with pytest.raises(DataError, match="no curve"):
        plot_km(km, at_risk=pd.concat([at_risk, pd.DataFrame(
            [{"group": "Other", "time": 0.0, "n_at_risk": 3}])]))
    with pytest.raises(UsageError, match="did you mean 'months'"):
        plot_km(km, time_unit="month")
    with pytest.raises(DataError, match="does not list"):
        plot_km(km, group_order=["Low risk"])
