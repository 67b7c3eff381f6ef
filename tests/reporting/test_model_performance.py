"""The report's model-performance section, from an evaluation folder written by hand: the
numbers of its CSVs reach the HTML, the figures are written, missing parts are noted, and
``build_report`` without an evaluation keeps its old note."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from hccfusion.errors import DataError, UsageError  # noqa: E402
from hccfusion.reporting.figures import style  # noqa: E402
from hccfusion.reporting.figures.model_attribution import (  # noqa: E402
    plot_clinical_shap,
    plot_modality_shapley,
)
from hccfusion.reporting.figures.model_forest import plot_model_forest  # noqa: E402
from hccfusion.reporting.figures.model_km import plot_risk_group_km  # noqa: E402
from hccfusion.reporting.html import render_report  # noqa: E402
from hccfusion.reporting.model_performance import (  # noqa: E402
    headline_table,
    modality_importance,
    model_performance_section,
    read_evaluation,
    risk_group_curves,
)

OLD_NOTE = "No model predictions are part of this report yet"
META = {"cutoff": "2026-06-30", "n_patients": 0, "centres": ["WX", "NJ"], "source_hash": "0" * 64}


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


# ------------------------------------------------------------------------ a hand-made folder

def _performance() -> pd.DataFrame:
    rows = []
    values = {  # (model, endpoint, cohort) -> (estimate, low, high)
        ("fusion", "os", "internal CV (WX)"): (0.771, 0.731, 0.809),
        ("fusion", "os", "external NJ"): (0.755, 0.702, 0.804),
        ("fusion", "pfs", "external NJ"): (0.688, 0.641, 0.736),
        ("fusion", "orr", "external NJ"): (0.743, 0.667, 0.815),
        ("fusion", "os", "temporal prospective"): (0.733, 0.651, 0.812),
        ("cox_clinical", "os", "external NJ"): (0.702, 0.649, 0.757),
        ("cox_clinical", "pfs", "external NJ"): (0.654, 0.603, 0.701),
        ("cox_clinical", "orr", "external NJ"): (0.681, 0.601, 0.758),
        ("bclc_2022", "os", "external NJ"): (0.612, 0.566, 0.659),
    }
    for (model, endpoint, cohort), (est, low, high) in values.items():
        rows.append(dict(model=model, endpoint=endpoint, cohort_label=cohort, n=120,
                         n_events=77, metric="roc_auc" if endpoint == "orr" else "harrell_c",
                         estimate=est, ci_low=low, ci_high=high, note=""))
    return pd.DataFrame(rows)


def _paired() -> pd.DataFrame:
    rows = []
    for model, comparator, endpoint, ref, delta, low, high, p in (
            ("fusion", "cox_clinical", "os", 0.702, 0.053, 0.021, 0.087, 0.0012),
            ("fusion", "bclc_2022", "os", 0.612, 0.143, 0.094, 0.191, 0.0004),
            ("fusion", "cox_clinical", "orr", 0.681, 0.062, -0.011, 0.133, 0.0917),
            # the power reference rows `hccfusion evaluate` adds when it scores the oracle
            ("oracle", "cox_clinical", "os", 0.702, 0.071, 0.034, 0.109, 0.0006),
            ("oracle", "fusion[clinical]", "os", 0.711, 0.061, 0.029, 0.094, 0.0008)):
        rows.append(dict(model=model, comparator=comparator, endpoint=endpoint,
                         cohort_label="external NJ", n=120,
                         metric="roc_auc" if endpoint == "orr" else "harrell_c",
                         estimate=ref + delta, comparator_estimate=ref, delta=delta,
                         ci_low=low, ci_high=high, p_value=p, note=""))
    return pd.DataFrame(rows)


def _patterns() -> pd.DataFrame:
    rows = []
    for model, pattern, est in (("fusion", "clinical+radiomics", 0.742),
                                ("fusion", "clinical+radiomics+pathology", 0.786),
                                ("cox_clinical", "clinical+radiomics", 0.699)):
        rows.append(dict(model=model, endpoint="os", cohort_label="external NJ",
                         pattern=pattern, n=60, n_events=41, metric="harrell_c",
                         estimate=est, ci_low=est - 0.05, ci_high=est + 0.05, note=""))
    return pd.DataFrame(rows)


def _predictions_and_outcomes(seed: int = 0, temporal: bool = False
                              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows, outcomes = [], []
    cohorts = [("external NJ", "train_WX", 40)]
    if temporal:  # (each KM figure costs ~0.5 s to save; the rendered folder keeps one cohort)
        cohorts.append(("temporal prospective", "train_WX", 24))
    for cohort, split, n in cohorts:
        for i in range(n):
            pid = f"{cohort[:3]}-{i:03d}"
            high = i % 2 == 0
            os_time = rng.exponential(300 if high else 900) + 1
            pfs_time = os_time * rng.uniform(0.3, 1.0)
            outcomes.append(dict(patient_id=pid, os_time=os_time,
                                 os_event=bool(rng.random() < 0.8), pfs_time=pfs_time,
                                 pfs_event=bool(rng.random() < 0.85),
                                 orr=float(rng.random() < 0.4)))
            for endpoint in ("os", "pfs", "orr"):
                risk = (1.0 if high else -1.0) + rng.normal()
                rows.append(dict(model="fusion", split_id=split, cohort_label=cohort,
                                 patient_id=pid, endpoint=endpoint,
                                 risk=1 / (1 + np.exp(risk)) if endpoint == "orr" else risk,
                                 risk_group=None if endpoint == "orr"
                                 else ("high" if high else "low")))
    return pd.DataFrame(rows), pd.DataFrame(outcomes)


def _shapley() -> pd.DataFrame:
    rows = []
    for pid, (c, r, p) in {"p1": (0.2, -0.1, 0.5), "p2": (-0.4, 0.3, 0.1),
                           "p3": (0.0, 0.2, np.nan)}.items():
        for modality, value in (("clinical", c), ("radiomics", r), ("pathology", p)):
            rows.append(dict(model="fusion", patient_id=pid, modality=modality, shapley=value))
    return pd.DataFrame(rows)


def _shap() -> pd.DataFrame:
    rows = []
    for pid, values in {"p1": (0.31, -0.05, 0.02), "p2": (-0.27, 0.11, -0.01)}.items():
        for variable, value in zip(("afp_ng_ml", "albi", "ecog"), values):
            rows.append(dict(model="fusion", patient_id=pid, variable=variable, shap=value,
                             value=1.0))
    return pd.DataFrame(rows)


def _write(folder: Path, *, parts: tuple[str, ...] = ("paired_differences",
                                                      "availability_patterns", "predictions",
                                                      "outcomes", "modality_shapley",
                                                      "clinical_shap", "modality_ablation"),
           meta: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    predictions, outcomes = _predictions_and_outcomes()
    tables = {"performance": _performance(), "paired_differences": _paired(),
              "availability_patterns": _patterns(), "predictions": predictions,
              "outcomes": outcomes, "modality_shapley": _shapley(), "clinical_shap": _shap()}
    tables["modality_ablation"] = pd.DataFrame({
        "setting": ["all", "without", "only"], "modality": [None, "pathology", "clinical"],
        "coalition": ["clinical+pathology", "clinical", "clinical"],
        "estimate": [0.755, 0.714, 0.623], "delta": [0.0, -0.041, -0.132]})
    for name, frame in tables.items():
        if name == "performance" or name in parts:
            frame.to_parquet(folder / f"{name}.parquet", index=False)
            frame.to_csv(folder / f"{name}.csv", index=False)
    meta = {"default_model": "fusion",  # oracle keys as `hccfusion evaluate` writes them
            "oracle": {"c_index_os": 0.8, "c_index_pfs": 0.74, "auc_orr": 0.79},
            "seed": 7, "n_resamples": 1000} if meta is None else meta
    if meta:
        (folder / "evaluation.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("model_perf")
    folder = _write(root / "evaluation")
    out = root / "report"
    render_report(sections=[model_performance_section(folder)], out=out, title="t", meta=META)
    return out, (out / "report.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------------- the rendered section

def test_performance_numbers_of_the_csvs_are_in_the_html(rendered) -> None:
    out, html = rendered
    for endpoint in ("os", "pfs", "orr"):
        table = pd.read_csv(out / "tables" / f"performance_{endpoint}.csv")
        assert set(table["endpoint"]) == {endpoint}
        for col in ("estimate", "ci_low", "ci_high"):
            for value in table[col]:
                assert f">{value:.3f}<" in html, (endpoint, col, value)
    os_ = pd.read_csv(out / "tables" / "performance_os.csv")
    # internal before external before temporal; the default model first within a cohort
    assert os_["cohort_label"].tolist()[0] == "internal CV (WX)"
    assert os_["cohort_label"].tolist()[-1] == "temporal prospective"
    ext = os_[os_["cohort_label"] == "external NJ"]
    assert ext["model"].tolist()[0] == "fusion"


def test_headline_is_85_percent_of_the_way_to_the_oracle(rendered) -> None:
    out, html = rendered
    head = pd.read_csv(out / "tables" / "headline.csv")
    os_ = head[head["endpoint"] == "os"].iloc[0]
    assert os_["cohort_label"] == "external NJ"  # external only, not internal or temporal
    assert set(head["cohort_label"]) == {"external NJ"}
    assert os_["share_of_oracle_pct"] == pytest.approx(100 * (0.755 - 0.5) / (0.8 - 0.5))
    assert round(os_["share_of_oracle_pct"]) == 85
    assert ("OS C-index 0.755 (95 % CI 0.702–0.804) in external NJ, oracle 0.800 — 85 % of "
            "the way") in html
    assert "ORR AUC 0.743" in html
    assert "95 % CIs from 1000 patient-level bootstrap resamples, seed 7." in html


def test_paired_differences_and_patterns(rendered) -> None:
    out, html = rendered
    paired = pd.read_csv(out / "tables" / "paired_differences.csv")
    assert set(paired["model"]) == {"fusion"}
    for rec in paired.itertuples():
        assert f">{rec.delta:.3f}<" in html and f">{rec.p_value:.3g}<" in html
    assert ">0.0004<" in html and ">0.0917<" in html
    # the oracle's own margin over the comparators, in a table of its own (the default model's
    # ablations left out: they are not comparators a user chooses between)
    power = pd.read_csv(out / "tables" / "paired_differences_oracle.csv")
    assert power[["model", "comparator"]].values.tolist() == [["oracle", "cox_clinical"]]
    assert ">0.071<" in html and ">0.0006<" in html and ">0.0008<" not in html
    assert "Power reference" in html
    patterns = pd.read_csv(out / "tables" / "availability_patterns.csv")
    assert set(patterns["model"]) == {"fusion"}  # the default model only
    assert ">0.786<" in html and ">0.699<" not in html


def test_risk_group_km_numbers_match_lifelines(rendered) -> None:
    from lifelines.statistics import logrank_test

    out, html = rendered
    groups = pd.read_csv(out / "tables" / "risk_groups.csv")
    predictions, outcomes = _predictions_and_outcomes()
    sub = predictions[(predictions["endpoint"] == "os")
                      & (predictions["cohort_label"] == "external NJ")].merge(outcomes)
    hi, lo = sub[sub["risk_group"] == "high"], sub[sub["risk_group"] == "low"]
    ref = logrank_test(hi["os_time"], lo["os_time"], hi["os_event"], lo["os_event"]).p_value
    row = groups[(groups["endpoint"] == "os") & (groups["cohort_label"] == "external NJ")]
    assert row["p_value_logrank"].iloc[0] == pytest.approx(ref, rel=1e-6)
    assert dict(zip(row["risk_group"], row["n"])) == {"high": 20, "low": 20}
    assert f"p = {ref:.3g}" in html
    km = pd.read_csv(out / "tables" / "km_os_external_nj_train_wx_data.csv")
    assert set(km["group"]) == {"high", "low"}
    for stem in ("km_os_external_nj_train_wx", "km_pfs_external_nj_train_wx",
                 "forest_os", "forest_orr", "delta_os", "modality_shapley", "clinical_shap"):
        for suffix in ("png", "svg"):
            assert (out / "figures" / f"{stem}.{suffix}").stat().st_size > 1000, stem
    for ref_path in set(re.findall(r'(?:href|src)="((?:tables|figures)/[^"]+)"', html)):
        assert (out / ref_path).is_file(), ref_path


def test_attribution_tables(rendered) -> None:
    out, html = rendered
    modality = pd.read_csv(out / "tables" / "modality_shapley.csv")
    got = modality.set_index("modality")
    # by hand: clinical |.2|,|.4|,|0| -> 0.2; radiomics .1,.3,.2 -> 0.2; pathology .5,.1 -> 0.3
    assert got.loc["pathology", "mean_abs_shapley"] == pytest.approx(0.3)
    assert got.loc["pathology", "n_patients"] == 2
    assert got.loc["clinical", "mean_shapley"] == pytest.approx(-0.2 / 3)
    assert got["share_pct"].sum() == pytest.approx(100)
    assert modality["modality"].iloc[0] == "pathology"  # largest first
    shap = pd.read_csv(out / "tables" / "clinical_shap.csv")
    assert shap["variable"].tolist() == ["afp_ng_ml", "albi", "ecog"]
    assert shap["mean_abs_shap"].iloc[0] == pytest.approx(0.29)
    assert ">0.290<" in html
    ablation = pd.read_csv(out / "tables" / "modality_ablation.csv")
    assert ablation["delta"].tolist() == pytest.approx([0.0, -0.041, -0.132])
    assert ">-0.132<" in html
    assert "omitted" not in html  # nothing missing in the complete folder


# ------------------------------------------------------------------------------ missing parts

def test_missing_optional_files_are_noted_not_fatal(tmp_path: Path) -> None:
    folder = _write(tmp_path / "evaluation", parts=(), meta={})
    section = model_performance_section(folder)
    texts = [b.text for b in section.blocks if type(b).__name__ == "NoteBlock"]
    assert len(texts) == 5
    for name in ("paired_differences.parquet", "availability_patterns.parquet",
                 "predictions.parquet and outcomes.parquet", "modality_shapley.parquet",
                 "clinical_shap.parquet"):
        assert sum(name in t for t in texts) == 1, name
    assert "no evaluation.json" in section.note
    assert "inferred" in section.text  # no evaluation.json: default model inferred
    head = [b for b in section.blocks if getattr(b, "name", "") == "headline"][0].frame
    assert head["oracle"].isna().all() and head["share_of_oracle_pct"].isna().all()
    out = tmp_path / "report"
    render_report(sections=[section], out=out, title="t", meta=META)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count('class="note"') == 6
    assert "Kaplan–Meier curves by risk group omitted" in html


def test_default_model_is_never_inferred_as_the_oracle(tmp_path: Path) -> None:
    folder = _write(tmp_path / "evaluation", parts=("paired_differences",), meta={})
    paired = _paired()
    extra = paired[paired["model"] == "oracle"].assign(comparator="bclc_2022")
    more = pd.concat([paired, extra, extra.assign(comparator="albi")], ignore_index=True)
    more.to_parquet(folder / "paired_differences.parquet", index=False)  # oracle rows: 4 > 3
    assert read_evaluation(folder).default_model == "fusion"


def test_risk_groups_from_frozen_cutoffs_when_predictions_lack_them(tmp_path: Path) -> None:
    from hccfusion.evaluation.cutoffs import MedianCutoff

    folder = _write(tmp_path / "evaluation", parts=("outcomes",))
    predictions, outcomes = _predictions_and_outcomes()
    predictions = predictions.drop(columns="risk_group")
    predictions.to_parquet(folder / "predictions.parquet", index=False)
    train = np.linspace(-2, 2, 41)
    cut = MedianCutoff().fit(time=np.arange(1, 42.0), event=np.ones(41, bool), risk=train)
    payload = cut.to_dict()
    from hccfusion.reporting.model_performance import risk_groups_from_cutoffs

    for form in ({"train_WX": {"os": payload, "pfs": payload}},  # as `hccfusion evaluate`
                 {"fusion": {"train_WX": {"os": payload, "pfs": payload}}},
                 [{"model": "fusion", "split_id": "train_WX", "endpoint": e, "cutoff": payload}
                  for e in ("os", "pfs")]):
        grouped = risk_groups_from_cutoffs(predictions, form, model="fusion")
        os_ = grouped[grouped["endpoint"] == "os"]
        expected = np.where(os_["risk"] <= cut.cutoffs_[0], "low", "high")
        assert (os_["risk_group"].to_numpy() == expected).all()
        assert grouped.loc[grouped["endpoint"] == "orr", "risk_group"].isna().all()
    (folder / "risk_groups.json").write_text(json.dumps({"train_WX": {"os": payload}}),
                                             encoding="utf-8")
    section = model_performance_section(folder)
    table = [b for b in section.blocks if getattr(b, "name", "") == "risk_groups"][0]
    assert "frozen cut-offs in risk_groups.json" in table.caption
    assert set(table.frame["endpoint"]) == {"os"}  # the json holds only the os cut-off


def test_missing_or_malformed_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        read_evaluation(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="lacks performance.parquet"):
        read_evaluation(tmp_path / "empty")
    folder = _write(tmp_path / "bad", parts=())
    _performance().drop(columns="ci_high").to_parquet(folder / "performance.parquet")
    with pytest.raises(DataError, match=r"lacks columns \['ci_high'\]"):
        read_evaluation(folder)
    folder = _write(tmp_path / "wrong_default", parts=(), meta={"default_model": "fusoin"})
    with pytest.raises(DataError, match="'fusoin'"):
        read_evaluation(folder)


def test_temporal_cohort_in_two_splits_gives_two_curves() -> None:
    predictions, outcomes = _predictions_and_outcomes(temporal=True)
    temporal = predictions[predictions["cohort_label"] == "temporal prospective"]
    twice = pd.concat([predictions, temporal.assign(split_id="train_NJ")], ignore_index=True)
    curves = risk_group_curves(twice, outcomes, model="fusion")
    keys = [(c.endpoint, c.cohort_label, c.split_id) for c in curves]
    assert keys == [("os", "external NJ", "train_WX"),
                    ("os", "temporal prospective", "train_NJ"),
                    ("os", "temporal prospective", "train_WX"),
                    ("pfs", "external NJ", "train_WX"),
                    ("pfs", "temporal prospective", "train_NJ"),
                    ("pfs", "temporal prospective", "train_WX")]
    first = curves[0]
    sub = predictions[(predictions["endpoint"] == "os")
                      & (predictions["cohort_label"] == "external NJ")].merge(outcomes)
    at0 = first.at_risk[first.at_risk["time"] == 0]
    assert dict(zip(at0["group"], at0["n_at_risk"])) == {"high": 20, "low": 20}
    t1 = sorted(set(first.at_risk["time"]))[1]  # 12 months: follow-up beyond 4 years
    assert t1 == pytest.approx(365.25)
    expect = sub[sub["os_time"] >= t1].groupby("risk_group").size().to_dict()
    got = first.at_risk[first.at_risk["time"] == t1]
    assert dict(zip(got["group"], got["n_at_risk"])) == expect


def test_headline_falls_back_to_temporal_and_handles_no_oracle() -> None:
    perf = _performance()
    perf = perf[~perf["cohort_label"].str.startswith("external")]
    head = headline_table(perf, model="fusion", oracle=None)
    assert head["cohort_label"].tolist() == ["temporal prospective"]
    assert np.isnan(head["share_of_oracle_pct"].iloc[0])
    head = headline_table(_performance(), model="fusion", oracle={"os": 0.45})
    assert np.isnan(head.loc[head["endpoint"] == "os", "share_of_oracle_pct"].iloc[0])


def test_modality_importance_share() -> None:
    got = modality_importance(_shapley()).set_index("modality")
    assert got.loc["radiomics", "mean_abs_shapley"] == pytest.approx(0.2)
    assert got.loc["radiomics", "share_pct"] == pytest.approx(100 * 0.2 / 0.7)


# ------------------------------------------------------------------------------------ figures

def _gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def test_model_forest_rows_highlight_and_oracle() -> None:
    perf = _performance()
    os_ = perf[perf["endpoint"] == "os"]
    ax = plot_model_forest(os_, highlight="fusion", oracle=0.8)
    assert len(_gid(ax, "model-forest-point")) == len(os_)
    assert len(_gid(ax, "model-forest-oracle")) == 1
    assert _gid(ax, "model-forest-reference")[0].get_xdata()[0] == 0.5
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # one header per cohort, then its models
    assert labels == ["internal CV (WX)", "fusion", "external NJ", "fusion", "cox_clinical",
                      "bclc_2022", "temporal prospective", "fusion"]
    colors = {tuple(p.get_color() for p in _gid(ax, "model-forest-point"))}
    assert style.PALETTE[1] in next(iter(colors))  # the highlighted model
    texts = [t.get_text() for t in _gid(ax, "model-forest-text")]
    assert "0.755 (0.702–0.804)" in texts
    with pytest.raises(DataError, match="lacks columns"):
        plot_model_forest(os_.drop(columns="ci_low"))
    paired = _paired().query("model == 'fusion'")
    paired = paired.assign(model=lambda d: d["comparator"], estimate=lambda d: d["delta"])
    ax = plot_model_forest(paired[paired["endpoint"] == "os"], reference=0.0)
    assert _gid(ax, "model-forest-reference")[0].get_xdata()[0] == 0.0
    assert [t.get_text() for t in _gid(ax, "model-forest-text")] == [
        "0.053 (0.021–0.087)   p = 0.001", "0.143 (0.094–0.191)   p < 0.001"]


def test_risk_group_km_orders_low_before_high() -> None:
    predictions, outcomes = _predictions_and_outcomes()
    c = risk_group_curves(predictions, outcomes, model="fusion")[0]
    ax = plot_risk_group_km(c.table, at_risk=c.at_risk, p_value=c.p_value, title="fusion · NJ")
    handles, labels = ax.get_legend_handles_labels()
    assert labels == ["low", "high"]
    assert handles[0].get_color() == style.PALETTE[0] and handles[1].get_color() == style.PALETTE[1]
    assert ax.get_title(loc="left") == "fusion · NJ"
    assert len([a for a in ax.texts if a.get_gid() == "km-p-value"]) == 1


def test_attribution_bars() -> None:
    table = modality_importance(_shapley())
    ax = plot_modality_shapley(table)
    bars = _gid(ax, "modality-shapley")
    assert [round(p.get_width(), 6) for p in bars] == [0.3, 0.2, 0.2]
    shap = pd.DataFrame({"variable": list("abcd"), "mean_abs_shap": [0.1, 0.4, 0.2, 0.3]})
    ax = plot_clinical_shap(shap, max_variables=2)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "d"]
    with pytest.raises(UsageError, match="max_variables"):
        plot_clinical_shap(shap, max_variables=0)


# ------------------------------------------------------------------------ build_report / CLI

def test_cli_passes_the_evaluation_folder(monkeypatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import hccfusion.pipeline.report as report
    from hccfusion.cli.main import app

    seen = {}

    def fake(**kwargs):
        seen.update(kwargs)
        return report.ReportResult(path=tmp_path / "report.html", n_tables=1, n_figures=2)

    monkeypatch.setattr(report, "build_report", fake)
    args = ["report", "--cohort", "c", "--endpoints", "e", "--out", "o"]
    assert CliRunner().invoke(app, args + ["--evaluation", "ev"]).exit_code == 0
    assert seen["evaluation"] == Path("ev")
    assert CliRunner().invoke(app, args).exit_code == 0
    assert seen["evaluation"] is None


@pytest.mark.slow
def test_build_report_with_and_without_evaluation(tmp_path: Path) -> None:
    from hccfusion.pipeline.demo import run_demo
    from hccfusion.pipeline.report import build_report

    demo = run_demo(out=tmp_path / "demo", n_patients=40, seed=3, modalities=("clinical",),
                    n_outer=2, n_resamples=50)
    plain = build_report(cohort=demo.paths["cohort"], endpoints=demo.paths["endpoints"],
                         out=tmp_path / "plain").path.read_text(encoding="utf-8")
    model = plain[plain.index('id="model"'):]
    assert OLD_NOTE in model and "<table>" not in model
    folder = _write(tmp_path / "evaluation", parts=("paired_differences",))
    result = build_report(cohort=demo.paths["cohort"], endpoints=demo.paths["endpoints"],
                          out=tmp_path / "report", evaluation=folder)
    html = result.path.read_text(encoding="utf-8")
    for section in ("data", "table1", "response", "survival", "agreement", "safety", "model"):
        assert f'id="{section}"' in html
    assert OLD_NOTE not in html
    assert "85 % of the way" in html and ">0.755<" in html
    assert json.loads((tmp_path / "report" / "report.json").read_text())["evaluation"] == \
        str(folder)
