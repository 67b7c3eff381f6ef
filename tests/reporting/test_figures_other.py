import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from hccfusion.errors import DataError, UsageError  # noqa: E402
from hccfusion.reporting.figures import (  # noqa: E402
    plot_calibration,
    plot_decision_curve,
    plot_forest,
    plot_swimmer,
    plot_td_roc,
    plot_waterfall,
)
from hccfusion.reporting.figures import style  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def _roc():
    rows = []
    for model, auc, power in (("fusion", 0.81, 0.35), ("BCLC", 0.66, 0.7)):
        for t in (365.25, 730.5):
            fpr = np.linspace(0, 1, 11)
            for f, s in zip(fpr, fpr ** power):
                rows.append(dict(model=model, time=t, fpr=f, tpr=s, auc=auc))
    return pd.DataFrame(rows)


def _calibration():
    pred = np.array([0.1, 0.2, 0.35, 0.5, 0.7])
    obs = np.array([0.12, 0.18, 0.4, 0.45, 0.75])
    return pd.DataFrame(dict(group=[f"Q{i + 1}" for i in range(5)], predicted=pred,
                             observed=obs, observed_low=obs - 0.05, observed_high=obs + 0.08))


def _dca():
    th = np.linspace(0.01, 0.8, 30)
    prev = 0.4
    return pd.concat([
        pd.DataFrame(dict(model="fusion", threshold=th, net_benefit=prev - th * 0.5)),
        pd.DataFrame(dict(model="all", threshold=th,
                          net_benefit=prev - (1 - prev) * th / (1 - th))),
        pd.DataFrame(dict(model="none", threshold=th, net_benefit=0.0)),
    ], ignore_index=True)


def _forest():
    return pd.DataFrame(dict(covariate=["High risk (model)", "BCLC C", "AFP ≥ 400", "HAIC"],
                             hr=[2.4, 1.6, 1.3, 0.8], ci_low=[1.6, 1.1, 0.9, 0.5],
                             ci_high=[3.6, 2.3, 1.9, 1.3], p=[0.00001, 0.012, 0.16, np.nan]))


def _waterfall():
    return pd.DataFrame(dict(patient_id=["P1", "P2", "P3", "P4", "P5", "P6"],
                             best_pct_change=[-100.0, -45.0, 25.0, -10.0, 5.0, np.nan],
                             best_response=["CR", "PR", "PD", "SD", "SD", "NE"]))


def _swimmer():
    table = pd.DataFrame(dict(patient_id=["P1", "P2", "P3"], follow_up_days=[700, 300, 450],
                              best_response=["PR", "PD", "SD"], ongoing=[True, False, False]))
    events = pd.DataFrame(dict(patient_id=["P1", "P1", "P2", "P2", "P3"],
                               time=[60, 400, 120, 300, 200],
                               event=["PR", "PD", "PD", "death", "SD"]))
    return table, events


def test_td_roc_one_line_per_model_and_time_with_auc_labels():
    curves = _roc()
    ax = plot_td_roc(curves)
    lines = [ln for ln in ax.get_lines() if (ln.get_gid() or "").startswith("roc-")
             and ln.get_gid() != "roc-chance"]
    assert len(lines) == 4
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "fusion, 12 months: AUC 0.81" in labels and "BCLC, 24 months: AUC 0.66" in labels
    assert ax.get_xlim() == (0, 1) and ax.get_ylim() == (0, 1)
    assert len(_gid(ax, "roc-chance")) == 1
    # a model keeps its colour across horizons, horizons differ by line style
    by = {ln.get_gid(): ln for ln in lines}
    assert by["roc-fusion-365.25"].get_color() == by["roc-fusion-730.5"].get_color()
    assert by["roc-fusion-365.25"].get_linestyle() != by["roc-fusion-730.5"].get_linestyle()
    with pytest.raises(DataError, match="'tpr' = 1.5"):
        plot_td_roc(curves.assign(tpr=curves["tpr"].where(curves.index != 2, 1.5)))


def test_calibration_points_match_input_and_diagonal_drawn():
    table = _calibration()
    ax = plot_calibration(table)
    ideal = _gid(ax, "calibration-ideal")[0]
    assert list(ideal.get_xdata()) == [0, 1] and list(ideal.get_ydata()) == [0, 1]
    series = [ln for ln in ax.get_lines() if ln.get_gid() == "calibration-observed"]
    assert len(series) == 1
    np.testing.assert_allclose(series[0].get_xdata(), table["predicted"])
    np.testing.assert_allclose(series[0].get_ydata(), table["observed"])
    assert ax.get_xlim() == (0, 1) and ax.get_ylim() == (0, 1)
    two = pd.concat([table.assign(model="fusion"), table.assign(model="clinical")])
    ax2 = plot_calibration(two)
    assert len([ln for ln in ax2.get_lines() if (ln.get_gid() or "").startswith("calibration-")
                and ln.get_gid() != "calibration-ideal"]) == 2
    with pytest.raises(DataError, match="lacks columns"):
        plot_calibration(table.drop(columns="observed_low"))


def test_decision_curve_styles_strategies_and_clips_treat_all():
    table = _dca()
    ax = plot_decision_curve(table)
    gids = {ln.get_gid(): ln for ln in ax.get_lines()}
    assert set(gids) == {"dca-fusion", "dca-all", "dca-none"}
    assert gids["dca-none"].get_color() == style.STRATEGY_COLORS["none"]
    assert gids["dca-all"].get_color() == style.STRATEGY_COLORS["all"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fusion", "Treat all",
                                                                     "Treat none"]
    low, high = ax.get_ylim()
    assert low < 0 < high and high >= table["net_benefit"].max()
    assert low > table["net_benefit"].min()  # the very negative treat-all tail is cut


def test_forest_log_axis_reference_and_text_column():
    table = _forest()
    ax = plot_forest(table)
    assert ax.get_xscale() == "log"
    ref = _gid(ax, "forest-reference")[0]
    assert list(ref.get_xdata()) == [1.0, 1.0]
    hr_line = _gid(ax, "forest-hr")[0]
    np.testing.assert_allclose(hr_line.get_xdata(), table["hr"])
    # first row is drawn on top
    assert hr_line.get_ydata()[0] == max(hr_line.get_ydata())
    assert [t.get_text() for t in ax.get_yticklabels()] == list(table["covariate"])
    texts = [t.get_text() for t in ax.texts]
    assert "2.40 (1.60–3.60)" in texts and "< 0.001" in texts and "0.012" in texts
    low, high = ax.get_xlim()
    assert low < table["ci_low"].min() and high > table["ci_high"].max()
    with pytest.raises(DataError, match="'hr' = -1"):
        plot_forest(table.assign(hr=[-1.0, 1.6, 1.3, 0.8]))


def test_waterfall_sorted_coloured_with_reference_lines():
    table = _waterfall()
    ax = plot_waterfall(table)
    bars = ax.patches[:5]
    heights = [b.get_height() for b in bars]
    assert heights == [25.0, 5.0, -10.0, -45.0, -100.0]
    expected = [style.RESPONSE_COLORS[r] for r in ("PD", "SD", "SD", "PR", "CR")]
    assert [matplotlib.colors.to_hex(b.get_facecolor()) for b in bars] == \
        [c.lower() for c in expected]
    assert list(_gid(ax, "waterfall-pr")[0].get_ydata()) == [-30.0, -30.0]
    assert list(_gid(ax, "waterfall-pd")[0].get_ydata()) == [20.0, 20.0]
    assert "1 without a post-baseline measurement" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["CR", "PR", "SD", "PD"]
    with pytest.raises(DataError, match="more than once"):
        plot_waterfall(pd.concat([table, table.iloc[:1]]))


def test_swimmer_bars_and_markers():
    table, events = _swimmer()
    ax = plot_swimmer(table, events)
    widths = [p.get_width() for p in ax.patches]
    np.testing.assert_allclose(widths, np.array([300, 450, 700]) / 30.4375)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["P2", "P3", "P1"]
    pd_marks = _gid(ax, "swimmer-PD")[0]
    np.testing.assert_allclose(sorted(pd_marks.get_xdata()), np.array([120, 400]) / 30.4375)
    np.testing.assert_allclose(sorted(pd_marks.get_ydata()), [0.0, 2.0])
    death = _gid(ax, "swimmer-death")[0]
    assert list(death.get_ydata()) == [0.0]
    assert list(_gid(ax, "swimmer-ongoing")[0].get_ydata()) == [2]
    with pytest.raises(DataError, match="event kinds \\['progression'\\]"):
        plot_swimmer(table, events.assign(event="progression"))
    with pytest.raises(DataError, match="not in 'table'"):
        plot_swimmer(table.iloc[:2], events)
    with pytest.raises(UsageError, match="did you mean"):
        plot_swimmer(table, events, time_unit="mnths")


@pytest.mark.parametrize("draw", [
    lambda: plot_td_roc(_roc()), lambda: plot_calibration(_calibration()),
    lambda: plot_decision_curve(_dca()), lambda: plot_forest(_forest()),
    lambda: plot_waterfall(_waterfall()), lambda: plot_swimmer(*_swimmer()),
])
def test_every_figure_saves_png_and_svg_and_leaves_rcparams_alone(draw, tmp_path):
    before = matplotlib.rcParams["font.size"], matplotlib.rcParams["axes.spines.top"]
    ax = draw()
    assert (matplotlib.rcParams["font.size"], matplotlib.rcParams["axes.spines.top"]) == before
    for ext in ("png", "svg"):
        path = tmp_path / f"fig.{ext}"
        ax.figure.savefig(path, bbox_inches="tight")
        assert path.stat().st_size > 1000
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in (tmp_path / "fig.svg").read_text()


def test_style_group_colors():
    assert style.group_colors(["a", "b"]) == {"a": style.PALETTE[0], "b": style.PALETTE[1]}
    assert style.group_colors(["a", "b"], {"b": "#123456"})["b"] == "#123456"
    with pytest.raises(UsageError, match="one colour per group"):
        style.group_colors(["a", "b"], ["#000000"])
    assert style.response_color("pr") == style.RESPONSE_COLORS["PR"]
