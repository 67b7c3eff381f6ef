"""LC-MS metabolomics step of ``hccfusion mechanism`` (domain.md §8.3): QC-RSD / missingness
filter, half-minimum imputation, PQN, log2 + Pareto, PCA, PLS-DA Q² with a permutation test and
VIP, univariate tests with BH (``metabolomics_*``) and ORA when a metabolite-set file is given
(``metabolite_ora``).

Called by :func:`hccfusion.pipeline.mechanism.run_mechanism`, which holds the orchestration.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hccfusion.pipeline.mechanism import ORDER

if TYPE_CHECKING:
    from hccfusion.pipeline.mechanism import _Writer


def _metabolomics(omics: Path, risk: pd.DataFrame, metabolite_sets: Path | None,
                  plsda_permutations: int, seed: int, w: _Writer, notes: list[str]
                  ) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    from hccfusion.omics import metabolomics as mx
    from hccfusion.omics.plsda import plsda, plsda_permutation_test
    from hccfusion.reporting.figures.mechanism_volcano import plot_volcano

    peaks = pd.read_parquet(omics / "metabolomics_intensities.parquet").set_index("injection_id")
    inj = pd.read_csv(omics / "metabolomics_injections.csv").set_index("injection_id")
    is_qc = inj["sample_type"].astype(str).str.lower() == "qc"
    qc = peaks.loc[peaks.index.intersection(inj.index[is_qc])]
    samp = inj[~is_qc & inj["patient_id"].astype(str).isin(risk.index)]
    samp = samp[~samp["patient_id"].duplicated()]
    x = peaks.loc[samp.index]
    x.index = samp["patient_id"].astype(str).to_numpy()
    x.index.name = "patient_id"
    groups = risk["group"].reindex(x.index)
    x, groups = x[groups.notna().to_numpy()], groups.dropna().astype(str)
    smallest = int(groups.value_counts().reindex(list(ORDER), fill_value=0).min())
    if smallest < 3:
        notes.append(f"metabolomics skipped: a risk group has {smallest} profiled patient(s); "
                     "at least 3 per group are needed")
        return {}, {}
    filt = mx.FeatureFilter(max_qc_rsd=0.30 if len(qc) >= 2 else None, max_missing=0.5,
                            max_missing_group=0.2)
    if len(qc) < 2:
        notes.append("metabolomics: fewer than 2 pooled-QC injections, QC-RSD filter skipped")
    filt.fit(x, qc=qc if len(qc) >= 2 else None, groups=groups)
    w.table("metabolomics_filter", filt.report_)
    kept = filt.transform(x)
    imputed = mx.HalfMinimumImputer().fit(kept).transform(kept)
    normalised = mx.PQNNormalizer().fit(imputed).transform(imputed)
    scaled = mx.LogParetoScaler().fit(normalised).transform(normalised)
    pc = mx.pca(scaled, n_components=2)
    w.table("metabolomics_pca", pc.scores.assign(group=groups.reindex(pc.scores.index))
            .reset_index())
    logged = np.log2(normalised)
    n_folds = int(min(7, groups.value_counts().min()))
    model = plsda(logged, groups, order=ORDER, n_components=2, n_folds=n_folds, seed=seed)
    perm = plsda_permutation_test(logged, groups, order=ORDER, n_permutations=plsda_permutations,
                                  n_folds=n_folds, seed=seed)
    w.table("metabolomics_plsda", pd.DataFrame([{
        "n_low": int((groups == ORDER[0]).sum()), "n_high": int((groups == ORDER[1]).sum()),
        "n_features": int(logged.shape[1]), "n_components": model.n_components,
        "n_folds": n_folds, "r2x": model.r2x, "r2y": model.r2y, "q2": model.q2,
        "n_permutations": perm.n_permutations, "q2_permutation_p": perm.p_value}]))
    uni = mx.volcano_table(normalised, groups, order=ORDER, vip=model.vip)
    names = {}
    if (omics / "metabolomics_features.csv").is_file():
        ann = pd.read_csv(omics / "metabolomics_features.csv")
        if {"feature_id", "name"} <= set(ann.columns):
            named = ann.dropna(subset=["name"])
            names = named.set_index("feature_id")["name"].astype(str).to_dict()
    uni.insert(1, "name", uni["feature"].map(names).fillna(uni["feature"]))
    w.table("metabolomics_univariate", uni)
    w.figure("metabolomics_volcano", lambda: plot_volcano(
        uni, x="log2_fc", q="q", label="name", min_abs_x=0.585,
        xlabel="log2 fold change (high vs low risk)"))
    if metabolite_sets is not None:
        from hccfusion.omics.metabolite_sets import over_representation, read_metabolite_sets

        label = uni.set_index("feature")["name"]
        ora = over_representation(set(label[uni.set_index("feature")["differential"]]),
                                  background=set(label), sets=read_metabolite_sets(
                                      metabolite_sets))
        w.table("metabolite_ora", ora)
    scores = logged.copy()
    scores.columns = [f"{c} {names[c]}" if c in names else str(c) for c in scores.columns]
    head = {"metabolomics_patients": int(len(x)), "metabolites_kept": int(logged.shape[1]),
            "plsda_q2": model.q2, "plsda_permutation_p": perm.p_value,
            "differential_metabolites": int(uni["differential"].sum())}
    return {"metabolite": scores}, head
