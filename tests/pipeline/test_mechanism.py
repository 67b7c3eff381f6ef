"""``hccfusion mechanism``: the job on a simulated study, its notes, errors, CLI and report."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hccfusion.errors import DataError, UsageError
from hccfusion.pipeline.mechanism import run_mechanism

N_GENES = 600  # the smallest the simulator allows: every shipped gene-set member


@functools.lru_cache(maxsize=None)
def _study(n_patients: int, seed: int):
    from hccfusion.simulate.latent import simulate_latent
    from hccfusion.simulate.omics import simulate_omics

    latent = simulate_latent(n_patients=n_patients, seed=seed).latent
    return latent, simulate_omics(latent=latent, seed=5, n_genes=N_GENES)


def _write_study(root: Path, n_patients: int, seed: int, *, drop: tuple[str, ...] = (),
                 baseline_only: bool = True):
    """The simulated omics folder and a predictions table (the true OS linear predictor).

    ``baseline_only`` drops the on-treatment flow samples: scipy's signed-rank test on tied
    pairs falls back to a permutation null (~1 s per feature), which the fast tests skip."""
    from hccfusion.simulate.omics import write_omics

    latent, omics = _study(n_patients, seed)
    write_omics(omics, out_dir=root / "omics")
    for name in drop:
        (root / "omics" / name).unlink()
    if baseline_only:
        flow = pd.read_csv(root / "omics" / "flow.csv")
        flow[flow["timepoint"] == "baseline"].to_csv(root / "omics" / "flow.csv", index=False)
    pred = root / "latent.parquet"
    latent[["patient_id", "center", "lp_os"]].to_parquet(pred, index=False)
    return pred, root / "omics"


@pytest.fixture(scope="module")
def assays_only(tmp_path_factory):
    """IHC, flow and metabolomics of 120 simulated patients; no RNA-seq (fast)."""
    root = tmp_path_factory.mktemp("mech_assays")
    pred, omics = _write_study(root, 120, 4, drop=("rna_counts.parquet",))
    result = run_mechanism(cohort=None, predictions=pred, omics_root=omics, out=root / "out",
                           risk_column="lp_os", plsda_permutations=20)
    return root, result


def test_missing_inputs_are_notes_and_the_rest_runs(assays_only):
    root, result = assays_only
    notes = " | ".join(result.notes)
    assert "RNA-seq skipped" in notes and "median risk" in notes
    assert {"assay_groups", "metabolomics_plsda", "metabolomics_univariate",
            "risk_associations", "risk_groups"} <= set(result.tables)
    assert "de" not in result.tables and "gsea" not in result.tables
    for path in result.tables.values():
        assert path.is_file() and path.with_suffix(".csv").is_file()
    for path in result.figures.values():
        assert path.is_file() and path.with_suffix(".svg").is_file()
    meta = json.loads((result.out / "mechanism.json").read_text())
    assert meta["settings"]["risk_column"] == "lp_os" and meta["notes"] == list(result.notes)


def test_associations_cover_every_assay_layer_adjusted_for_centre(assays_only):
    _, result = assays_only
    assoc = pd.read_parquet(result.tables["risk_associations"])
    assert {"ihc", "flow", "metabolite"} <= set(assoc["kind"])
    assert set(assoc["adjusted_for"]) == {"center"}
    groups = pd.read_parquet(result.tables["risk_groups"])
    assert groups["group"].value_counts().to_dict() == {"low": 60, "high": 60}
    # CD8 density is driven by the immune factor, which lowers the simulated risk.
    cd8 = assoc.set_index("feature").loc["ihc:liver_tumour:cd8_core_per_mm2"]
    assert cd8["rho"] < 0


def test_frozen_groups_are_used_and_other_labels_left_out(tmp_path):
    pred, omics = _write_study(tmp_path, 120, 4, drop=("rna_counts.parquet",
                                                       "metabolomics_intensities.parquet"))
    table = pd.read_parquet(pred)
    cut = np.quantile(table["lp_os"], [1 / 3, 2 / 3])
    table["risk_group_os"] = np.select([table["lp_os"] <= cut[0], table["lp_os"] > cut[1]],
                                       ["low", "high"], "intermediate")
    table.rename(columns={"lp_os": "risk_os"}).to_parquet(pred, index=False)
    result = run_mechanism(cohort=None, predictions=pred, omics_root=omics, out=tmp_path / "o")
    assert any("['intermediate'] are left out" in n for n in result.notes)
    assert any("metabolomics skipped" in n for n in result.notes)
    groups = pd.read_parquet(result.tables["assay_groups"])
    assert {"n_low", "n_high"} <= set(groups.columns)
    assert groups["n_low"].max() + groups["n_high"].max() < 80


def test_bad_inputs_raise_named_errors(tmp_path):
    pred, omics = _write_study(tmp_path, 120, 4)
    with pytest.raises(DataError, match="no column 'risk_os'.*--risk-column"):
        run_mechanism(cohort=None, predictions=pred, omics_root=omics, out=tmp_path / "o")
    with pytest.raises(UsageError, match="does not exist"):
        run_mechanism(cohort=None, predictions=tmp_path / "none.parquet", omics_root=omics,
                      out=tmp_path / "o", risk_column="lp_os")
    with pytest.raises(UsageError, match="omics folder"):
        run_mechanism(cohort=None, predictions=pred, omics_root=tmp_path / "nothing",
                      out=tmp_path / "o", risk_column="lp_os")
    with pytest.raises(UsageError, match="'n_permutations' parameter"):
        run_mechanism(cohort=None, predictions=pred, omics_root=omics, out=tmp_path / "o",
                      risk_column="lp_os", n_permutations=5)
    twice = pd.concat([pd.read_parquet(pred)] * 2)
    twice.to_parquet(tmp_path / "twice.parquet")
    with pytest.raises(DataError, match="more than once"):
        run_mechanism(cohort=None, predictions=tmp_path / "twice.parquet", omics_root=omics,
                      out=tmp_path / "o", risk_column="lp_os")


def test_cli_runs_and_reports_errors_in_one_line(assays_only, tmp_path):
    import typer
    from typer.testing import CliRunner

    from hccfusion.cli.mechanism import command

    root, _ = assays_only
    app = typer.Typer()
    app.command()(command)
    omics = tmp_path / "omics"
    shutil.copytree(root / "omics", omics)
    (omics / "metabolomics_intensities.parquet").unlink()
    res = CliRunner().invoke(app, ["--predictions", str(root / "latent.parquet"), "--omics",
                                   str(omics), "--out", str(tmp_path / "out"),
                                   "--risk-column", "lp_os"])
    assert res.exit_code == 0, res.output
    assert "risk groups: 60 low, 60 high" in res.output and "metabolomics skipped" in res.output
    res = CliRunner().invoke(app, ["--predictions", str(root / "latent.parquet"), "--omics",
                                   str(omics), "--out", str(tmp_path / "out")])
    assert isinstance(res.exception, DataError) and "risk_os" in str(res.exception)


def test_report_section_from_the_folder(assays_only, tmp_path):
    from hccfusion.reporting.html import FigureBlock, NoteBlock, TableBlock, render_report
    from hccfusion.reporting.mechanism_section import mechanism_section

    _, result = assays_only
    section = mechanism_section(result.out)
    assert section.id == "mechanism" and "60 low-risk" in section.text
    notes = [b.text for b in section.blocks if isinstance(b, NoteBlock)]
    assert any("Differential expression omitted" in n for n in notes)
    assert any("RNA-seq skipped" in n for n in notes)
    names = {b.name for b in section.blocks if isinstance(b, (TableBlock, FigureBlock))}
    assert {"mechanism_assay_groups", "mechanism_plsda", "mechanism_risk_associations",
            "mechanism_metabolomics_volcano"} <= names
    path = render_report(sections=[section], out=tmp_path / "report", title="t",
                         meta={"cutoff": "2025-01-01", "n_patients": 120, "centres": ["NJ", "WX"],
                               "source_hash": "0" * 64})
    assert "Mechanism" in path.read_text() and (tmp_path / "report" / "figures" /
                                                "mechanism_risk_associations.svg").is_file()
    with pytest.raises(UsageError, match="no mechanism.json"):
        mechanism_section(tmp_path)


@pytest.mark.slow
def test_planted_immune_biology_is_recovered(tmp_path):
    """120 simulated patients, 38 biopsies with RNA-seq (600 genes), risk = the true linear
    predictor of OS. The simulator plants an immune factor that lowers the risk: its gene sets
    and cell populations must come out down in the high-risk group and rank first; gene sets
    with no loaded member for any factor must not be significant."""
    pred, omics = _write_study(tmp_path, 120, 4, baseline_only=False)
    result = run_mechanism(cohort=None, predictions=pred, omics_root=omics, out=tmp_path / "o",
                           risk_column="lp_os", n_permutations=200, plsda_permutations=20,
                           shrink=False)
    truth = pd.read_csv(omics / "truth" / "gene_set_truth.csv")
    direction = truth.pivot(index="set_name", columns="factor", values="direction")
    loaded = truth.pivot(index="set_name", columns="factor", values="fraction_members_loaded")
    immune = set(direction.index[direction["immune"] == 1])
    null = set(loaded.index[(loaded == 0).all(axis=1) & (direction == 0).all(axis=1)])
    assert len(null) >= 5

    gsea = pd.read_parquet(result.tables["gsea"]).set_index("term")
    tested_immune = sorted(immune & set(gsea.index))
    assert len(tested_immune) >= 7  # sets under 5 genes (CD8B alone, GZMA + PRF1) are not run
    assert (gsea.loc[tested_immune, "nes"] < 0).all()
    assert (gsea.loc[tested_immune, "fdr"] < 0.05).all(), gsea.loc[tested_immune, "fdr"]
    tested_null = sorted(null & set(gsea.index))
    assert (gsea.loc[tested_null, "fdr"] >= 0.05).all(), gsea.loc[tested_null, "fdr"]
    # Ranked from the most negative NES, the planted immune sets come before every null set.
    judged = gsea.loc[tested_immune + tested_null].sort_values("nes")
    assert set(judged.index[:len(tested_immune)]) == set(tested_immune)

    assoc = pd.read_parquet(result.tables["risk_associations"]).set_index("feature")
    pops = assoc[assoc["kind"] == "immune_population"]
    # MCP-counter populations whose marker sets are planted immune (>= 5 markers; the CD8 T-cell
    # population rests on CD8B alone) and the null ones.
    planted = ["t_cells", "cytotoxic_lymphocytes", "b_lineage", "nk_cells",
               "myeloid_dendritic_cells"]
    nulls = ["fibroblasts", "neutrophils", "monocytic_lineage"]
    assert (pops.loc[planted, "rho"] < 0).all()
    assert (pops.loc[planted, "q_value_within_kind"] < 0.05).all()
    assert (pops.loc[nulls, "q_value_within_kind"] >= 0.05).all()
    assert pops.loc[planted, "rho"].max() < pops.loc[nulls, "rho"].min()
    assert "center" in set(assoc["adjusted_for"])
    assert result.headline["rna_samples"] >= 35
    assert {"de_volcano", "gsea_nes", "risk_associations"} <= set(result.figures)
    assert "assay_pre_post" in result.tables
