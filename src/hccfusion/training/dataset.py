"""The study's modelling data: one row per eligible patient, every modality beside it.

:func:`load_study_data` joins what the earlier stages wrote — the frozen cohort, the endpoints
and the feature store — into a :class:`StudyData`: raw clinical variables and treatment at
baseline, the targets (OS, PFS, mRECIST ORR and best response), and the imaging, pathology and
omics features of the patients that have them. Nothing here is fitted: scaling, imputation and
time bins are learned inside each training fold (:mod:`hccfusion.training.preprocess`).

Only what was known at baseline enters a predictor: clinical variables at T0, the baseline CT
(never the follow-up scan, which already shows the response) and the pre-treatment biopsy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError

__all__ = ["MODALITIES", "CLINICAL_NUMERIC", "CLINICAL_CATEGORICAL", "CLINICAL_LOG",
           "TREATMENT_COLUMNS", "StudyData", "load_study_data", "study_targets",
           "clinical_frame", "treatment_frame", "radiomics_frame"]

#: Modalities in their fixed order (the model's ``available`` mask follows it).
MODALITIES: tuple[str, ...] = ("clinical", "radiomics", "pathology", "omics")

#: Baseline clinical variables: numeric (NaN = missing; ``crafity_points`` is the CRAFITY
#: score's count of AFP >= 100 ng/mL and CRP >= 10 mg/L, the published thresholds) …
CLINICAL_NUMERIC: tuple[str, ...] = (
    "age_years", "afp_ng_ml", "pivka_ii_mau_ml", "crp_mg_l", "albumin_g_l", "bilirubin_umol_l",
    "inr", "platelets_10e9_l", "neutrophils_10e9_l", "lymphocytes_10e9_l", "largest_diameter_cm",
    "tumour_number", "child_pugh_score", "albi", "nlr", "pvtt_grade", "ecog",
    "hbv_dna_log10_iu_ml", "crafity_points")
#: … whose skew is taken out with log1p before scaling (tumour markers, inflammation) …
CLINICAL_LOG: tuple[str, ...] = ("afp_ng_ml", "pivka_ii_mau_ml", "crp_mg_l", "nlr")
#: … and categorical (None = missing).
CLINICAL_CATEGORICAL: tuple[str, ...] = (
    "sex", "etiology", "cirrhosis", "macrovascular_invasion", "hvtt", "extrahepatic_spread",
    "ascites")
#: Treatment, the conditioning input (not a modality).
TREATMENT_COLUMNS: tuple[str, ...] = ("ia_modality", "tki_agent", "pd1_agent")

_BOR_CODE = {"CR": 0, "PR": 1, "SD": 2, "PD": 3}


@dataclass(frozen=True)
class StudyData:
    """Everything a model sees, one row per patient (index ``patient_id``).

    Attributes
    ----------
    patients : DataFrame
        ``center``, ``cohort`` (retrospective / prospective).
    targets : DataFrame
        ``os_time``, ``os_event``, ``pfs_time``, ``pfs_event`` (days, bool), ``orr`` (1.0 / 0.0,
        NaN when not evaluable), ``bor`` (0 = CR, 1 = PR, 2 = SD, 3 = PD; NaN when NE).
    clinical : DataFrame
        Raw baseline variables (:data:`CLINICAL_NUMERIC`, :data:`CLINICAL_CATEGORICAL`).
    treatment : DataFrame
        :data:`TREATMENT_COLUMNS`.
    radiomics : DataFrame or None
        Baseline CT radiomics, one row per patient with a measured baseline exam.
    pathology : dict or None
        ``patient_id`` → :class:`~hccfusion.training.bags.PatientBag`.
    omics : DataFrame or None
        Pathway scores of the baseline tumour RNA-seq, one row per patient that has one.
    scores : DataFrame or None
        The endpoints' ``baseline_scores`` table (published clinical scores), for the
        clinical-score baselines.
    feature_specs : dict
        Per modality, what made its features (encoder, spec, weights hash, columns); stored in
        the bundle and checked when a bundle scores new features.
    """

    patients: pd.DataFrame
    targets: pd.DataFrame
    clinical: pd.DataFrame
    treatment: pd.DataFrame
    radiomics: pd.DataFrame | None = None
    pathology: dict | None = None
    omics: pd.DataFrame | None = None
    feature_specs: dict = field(default_factory=dict)
    scores: pd.DataFrame | None = None

    @property
    def patient_ids(self) -> list[str]:
        return list(self.patients.index)

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities this data has (clinical always), in :data:`MODALITIES` order."""
        have = {"clinical": True, "radiomics": self.radiomics is not None,
                "pathology": self.pathology is not None, "omics": self.omics is not None}
        return tuple(m for m in MODALITIES if have[m])

    def available(self) -> pd.DataFrame:
        """Bool frame patient × modality (:data:`MODALITIES` order) of who has what."""
        ids = self.patients.index
        out = pd.DataFrame(False, index=ids, columns=list(MODALITIES))
        out["clinical"] = True
        if self.radiomics is not None:
            out["radiomics"] = ids.isin(self.radiomics.index)
        if self.pathology is not None:
            out["pathology"] = ids.isin(list(self.pathology))
        if self.omics is not None:
            out["omics"] = ids.isin(self.omics.index)
        return out

    def subset(self, patient_ids: list[str] | pd.Index) -> StudyData:
        """The same data restricted to ``patient_ids`` (in that order)."""
        ids = pd.Index(patient_ids)
        missing = ids.difference(self.patients.index)
        if len(missing):
            raise DataError(f"patients not in the study data: {', '.join(map(str, missing[:5]))}")
        keep = set(ids)
        return StudyData(
            patients=self.patients.loc[ids], targets=self.targets.loc[ids],
            clinical=self.clinical.loc[ids], treatment=self.treatment.loc[ids],
            radiomics=None if self.radiomics is None
            else self.radiomics[self.radiomics.index.isin(keep)],
            pathology=None if self.pathology is None
            else {p: b for p, b in self.pathology.items() if p in keep},
            omics=None if self.omics is None else self.omics[self.omics.index.isin(keep)],
            feature_specs=self.feature_specs,
            scores=None if self.scores is None else self.scores.loc[ids])

    def outcomes(self) -> pd.DataFrame:
        """Targets as the evaluation tables take them (``patient_id`` a column)."""
        return self.targets[["os_time", "os_event", "pfs_time", "pfs_event", "orr"]] \
            .rename_axis("patient_id").reset_index()


def _read(folder: Path, name: str) -> pd.DataFrame:
    path = folder / f"{name}.parquet"
    if not path.is_file():
        raise DataError(f"{path} is missing; run the step that writes it first "
                        f"(hccfusion endpoints / cohort freeze)")
    return pd.read_parquet(path)


def study_targets(endpoints: pd.DataFrame | dict) -> pd.DataFrame:
    """OS, PFS (mRECIST), ORR and BOR per patient from the endpoints tables.

    ``endpoints`` maps ``"survival"`` and ``"best_response"`` to those tables. BOR is the final
    (MDT-adjudicated) mRECIST call; NE leaves ``orr`` and ``bor`` missing.
    """
    surv, bor = endpoints["survival"], endpoints["best_response"]
    os_ = surv[surv["endpoint"] == "OS"].set_index("patient_id")
    pfs = surv[(surv["endpoint"] == "PFS") & (surv["criterion"] == "mrecist")] \
        .set_index("patient_id")
    final = bor[(bor["reader"] == "final") & (bor["criterion"] == "mrecist")] \
        .set_index("patient_id")["bor"]
    code = final.map(_BOR_CODE)
    out = pd.DataFrame({"os_time": os_["time"].astype(float),
                        "os_event": os_["event"].astype(bool)})
    out["pfs_time"] = pfs["time"].reindex(out.index).astype(float)
    out["pfs_event"] = pfs["event"].reindex(out.index).astype("boolean")
    out["bor"] = code.reindex(out.index).astype(float)
    out["orr"] = np.where(out["bor"].isna(), np.nan, (out["bor"] <= 1).astype(float))
    bad = out.index[out["pfs_time"].isna() | out["pfs_event"].isna()]
    if len(bad):
        raise DataError(f"patient {bad[0]}: OS is derived but PFS (mRECIST) is not; re-run "
                        "hccfusion endpoints")
    out["pfs_event"] = out["pfs_event"].astype(bool)
    return out.rename_axis("patient_id")


def clinical_frame(patients: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Baseline clinical variables per patient: labs and scores at T0, demographics, burden."""
    p = patients.set_index("patient_id")
    s = scores.set_index("patient_id").reindex(p.index)
    out = pd.DataFrame(index=p.index)
    for col in CLINICAL_NUMERIC:
        if col == "pvtt_grade":
            out[col] = p["pvtt"].astype("string").str.extract(r"Vp(\d)")[0].astype(float)
        elif col in s.columns:
            out[col] = pd.to_numeric(s[col], errors="coerce").astype(float)
        elif col in p.columns:
            out[col] = pd.to_numeric(p[col], errors="coerce").astype(float)
        else:
            out[col] = np.nan
    for col in CLINICAL_CATEGORICAL:
        src = s[col] if col in s.columns else p[col] if col in p.columns else None
        out[col] = None if src is None else src.astype(object).where(src.notna(), None) \
            .map(lambda v: None if v is None else str(v))
    return out


def treatment_frame(treatments: pd.DataFrame, patient_ids: pd.Index) -> pd.DataFrame:
    """The first intra-arterial modality, TKI and PD-1 agent of each patient."""
    t = treatments.sort_values(["patient_id", "start_date"], kind="stable")
    ia = t[t["kind"].isin(["TACE", "HAIC"])].groupby("patient_id")["kind"].first()
    tki = t[t["kind"] == "TKI"].groupby("patient_id")["agent"].first()
    pd1 = t[t["kind"] == "PD1"].groupby("patient_id")["agent"].first()
    out = pd.DataFrame({"ia_modality": ia, "tki_agent": tki, "pd1_agent": pd1}) \
        .reindex(patient_ids)
    return out.astype(object).where(out.notna(), None)


def radiomics_frame(patient_radiomics: pd.DataFrame, baseline_exams: pd.DataFrame
                    ) -> pd.DataFrame:
    """Baseline-exam patient radiomics, one row per patient, phases side by side.

    ``patient_radiomics`` is the imaging job's ``patient_radiomics.parquet`` (one row per patient
    × exam × phase); ``baseline_exams`` holds ``patient_id, exam_id`` of each baseline exam.
    Columns become ``<phase>__<feature>``; non-numeric columns are dropped.
    """
    base = patient_radiomics.merge(baseline_exams[["patient_id", "exam_id"]],
                                   on=["patient_id", "exam_id"])
    numeric = [c for c in base.columns if c not in ("patient_id", "exam_id", "phase")
               and pd.api.types.is_numeric_dtype(base[c]) and not pd.api.types.is_bool_dtype(base[c])]
    # every feature column is kept even when NaN for all patients here (scoring one new patient
    # must give the columns the bundle was trained on)
    wide = base.set_index(["patient_id", "phase"])[numeric]
    wide = wide[~wide.index.duplicated(keep="first")].unstack("phase")
    wide.columns = [f"{phase}__{feat}" for feat, phase in wide.columns]
    return wide.sort_index(axis=1).astype(float)


def _find_one(root: Path, pattern: str, what: str) -> Path | None:
    hits = sorted(root.glob(pattern))
    if len(hits) > 1:
        raise UsageError(f"{root} holds more than one {what} ({', '.join(str(h.relative_to(root)) for h in hits)}); "
                         f"name the one to use")
    return hits[0] if hits else None


def load_study_data(*, cohort: Path | str, endpoints: Path | str,
                    features: Path | str | None = None,
                    radiomics: Path | str | None = None, pathology: Path | str | None = None,
                    omics: Path | str | None = None,
                    eligible_only: bool = True, require_targets: bool = True) -> StudyData:
    """Join cohort, endpoints and features into :class:`StudyData`.

    Parameters
    ----------
    cohort, endpoints
        The frozen cohort folder and the endpoints folder.
    features
        Feature-store root; the radiomics table, the pathology bag folder and the omics pathway
        table are found under it when there is exactly one of each (else name them).
    radiomics, pathology, omics
        Explicit paths: a ``patient_radiomics.parquet`` file, a bag folder holding
        ``manifest.parquet``, a ``pathway_scores.parquet`` file.
    eligible_only
        Keep only patients the eligibility assessment kept (the analysis population).
    require_targets
        False to score a cohort whose outcomes are not derived (``hccfusion predict`` on new
        patients): targets are then missing, and eligibility is applied only if assessed.
    """
    from hccfusion.io.cohort import Cohort

    cohort_obj = Cohort.load(Path(cohort))
    tables = cohort_obj.tables
    ep = Path(endpoints)
    patients = tables["patients"].set_index("patient_id")[["center", "cohort"]].astype(str)
    if require_targets or (ep / "survival.parquet").is_file():
        targets = study_targets({"survival": _read(ep, "survival"),
                                 "best_response": _read(ep, "best_response")})
    else:
        targets = pd.DataFrame(np.nan, index=patients.index.rename("patient_id"),
                               columns=["os_time", "os_event", "pfs_time", "pfs_event", "bor",
                                        "orr"])
    if eligible_only and (require_targets or (ep / "eligibility.parquet").is_file()):
        elig = _read(ep, "eligibility").set_index("patient_id")["eligible"].astype(bool)
        patients = patients[elig.reindex(patients.index).fillna(False).to_numpy()]
    ids = patients.index.intersection(targets.index)
    patients = patients.loc[ids]
    scores = _read(ep, "baseline_scores")
    clinical = clinical_frame(tables["patients"], scores).loc[ids]
    scores = scores.set_index("patient_id").reindex(ids)
    treatment = treatment_frame(tables["treatments"], ids)
    specs: dict[str, dict] = {"clinical": {"numeric": list(CLINICAL_NUMERIC),
                                           "categorical": list(CLINICAL_CATEGORICAL)}}

    root = Path(features) if features is not None else None
    if radiomics is None and root is not None:
        radiomics = _find_one(root, "imaging/radiomics/*/patient_radiomics.parquet",
                              "radiomics table")
    rad = None
    if radiomics is not None:
        from hccfusion.io.exam_selection import select_exams

        rpath = Path(radiomics)
        base = select_exams(tables["exams"], tables["treatments"])
        base = base[base["timepoint"] == "baseline"]
        rad = radiomics_frame(pd.read_parquet(rpath), base)
        rad = rad[rad.index.isin(ids)]
        specs["radiomics"] = {"source": rpath.parent.name, "n_columns": int(rad.shape[1]),
                              "columns_sha256": _columns_hash(list(rad.columns))}

    if pathology is None and root is not None:
        found = _find_one(root, "pathology/*/*/manifest.parquet", "pathology bag folder")
        pathology = found.parent if found is not None else None
    bags = None
    if pathology is not None:
        from hccfusion.training.bags import patient_bags

        folder = Path(pathology)
        manifest = pd.read_parquet(folder / "manifest.parquet")
        manifest = manifest[manifest["patient_id"].isin(ids)]
        bags = patient_bags(manifest, store_dir=folder)
        ok = manifest[manifest["status"] == "ok"]
        first = ok.iloc[0] if len(ok) else None
        specs["pathology"] = {
            "encoder": None if first is None else str(first["encoder"]),
            "spec": None if first is None else str(first["spec"]),
            "weights_sha256": None if first is None else str(first.get("weights_sha256") or ""),
            "dim": None if first is None else int(first["dim"])}

    if omics is None and root is not None:
        omics = _find_one(root, "omics/*/*/pathway_scores.parquet", "omics pathway table")
    om = None
    if omics is not None:
        opath = Path(omics)
        om = pd.read_parquet(opath)
        om = om.set_index("patient_id") if "patient_id" in om.columns else om
        om = om.drop(columns=[c for c in ("sample_id",) if c in om.columns])
        om = om[om.index.isin(ids)].astype(float)
        specs["omics"] = {"source": opath.parent.name, "n_columns": int(om.shape[1]),
                          "columns_sha256": _columns_hash(list(om.columns))}
    return StudyData(patients=patients, targets=targets.loc[ids], clinical=clinical,
                     treatment=treatment, radiomics=rad, pathology=bags, omics=om,
                     feature_specs=specs, scores=scores)


def _columns_hash(columns: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(columns).encode()).hexdigest()
