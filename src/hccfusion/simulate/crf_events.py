"""The ``treatments``, ``followup``, ``adverse_events`` and ``specimens`` sheets.

Treatment (domain.md §4): the first intra-arterial session is T0; TACE sessions on demand every
4–8 weeks (median 2–3), HAIC-FOLFOX q3w for 3–6 cycles (oxaliplatin 85 mg/m²); TKI from T0 + 0–7
days until progression (lenvatinib 8 mg < 60 kg, 12 mg >= 60 kg); PD-1 q3w from T0 + 0–14 days
(200 mg; toripalimab 240 mg) for up to two years. Non-protocol therapy as drawn in the course;
second-line systemic therapy for some patients after progression.
Biopsy adverse events (domain.md §5, Thomaides-Brears 2022): minor ≈ 9.5 % (mostly pain), major
≈ 2.4 % (bleeding ≈ 0.5 %), graded by CTCAE v5.0 (§6.2), onset within 7 days of the biopsy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hccfusion.io.schema import SPECIMEN_FATE
from hccfusion.simulate.latent import SimulatedLatent
from hccfusion.simulate.screening import prior_treatment_rows
from hccfusion.simulate.seeding import STAGE_CRF_EVENTS, STAGE_CRF_TREATMENTS, patient_rng

DAY = pd.Timedelta(days=1)
TKI_DOSE_MG_DAY = {"sorafenib": 800.0, "donafenib": 400.0, "apatinib": 250.0, "regorafenib": 160.0}
#: (term, grade, probability, serious) of biopsy complications per procedure.
BIOPSY_AES = (("Pain", 1, 0.060, False), ("Pain", 2, 0.020, False), ("Fever", 1, 0.012, False),
              ("Hematoma", 1, 0.008, False), ("Hematoma", 2, 0.004, False),
              ("Hepatic hemorrhage", 3, 0.005, True), ("Vasovagal reaction", 3, 0.004, True),
              ("Hypotension", 3, 0.003, True), ("Hepatic infection", 3, 0.003, True))
TREATMENT_AES = (("TACE", "Fever", (1, 2), 0.35), ("TACE", "Abdominal pain", (1, 2), 0.30),
                 ("TACE", "Nausea", (1, 2), 0.15), ("TKI", "Hypertension", (1, 2, 3), 0.35),
                 ("TKI", "Palmar-plantar erythrodysesthesia syndrome", (1, 2), 0.2),
                 ("TKI", "Diarrhea", (1, 2), 0.2), ("TKI", "Proteinuria", (1, 2), 0.15),
                 ("PD1", "Hypothyroidism", (1, 2), 0.12), ("PD1", "Rash maculo-papular", (1, 2), 0.1))


def _end_of_care(o: dict) -> pd.Timestamp:
    """Last day anything can happen: death date, else last contact."""
    return o["death_date"] if pd.notna(o["death_date"]) else o["last_contact_date"]


def treatments_table(truth: SimulatedLatent) -> pd.DataFrame:
    out_by = {r["patient_id"]: r for r in truth.outcomes.to_dict("records")}
    rows: list[dict] = []
    for rec in truth.latent.itertuples(index=False):
        rng = patient_rng(truth.seed, stage=STAGE_CRF_TREATMENTS, center_index=rec.center_index,
                          number=rec.number)
        o = out_by[rec.patient_id]
        t0, end = rec.t0, _end_of_care(o)
        stop = o["progression_date"] if pd.notna(o["progression_date"]) else end
        stop = min(stop, end)
        pid = rec.patient_id
        if rec.ia_modality == "TACE":
            agent = "cTACE" if rng.random() < 0.7 else "DEB-TACE"
            n = 1 + min(int(rng.poisson(1.6)), 5)
            day = t0
            for k in range(n):
                if k and day > stop:
                    break
                rows.append(dict(patient_id=pid, kind="TACE", agent=agent, start_date=day,
                                 end_date=day, cycles=1))
                day = day + int(rng.integers(28, 57)) * DAY
        else:
            n = int(rng.integers(3, 7))
            day = t0
            for k in range(n):
                if k and day + 2 * DAY > stop:
                    break
                rows.append(dict(patient_id=pid, kind="HAIC", agent="HAIC-FOLFOX", start_date=day,
                                 end_date=day + 2 * DAY, dose=85.0, dose_unit="mg/m2", cycles=1))
                day = day + 21 * DAY
        tki_start = min(t0 + int(rng.integers(0, 8)) * DAY, end)
        tki_end = _course_end(o, stop, end, rng)
        dose = (8.0 if rec.weight_kg < 60 else 12.0) if rec.tki_agent == "lenvatinib" \
            else TKI_DOSE_MG_DAY[rec.tki_agent]
        rows.append(dict(patient_id=pid, kind="TKI", agent=rec.tki_agent, start_date=tki_start,
                         end_date=None if tki_end is None else max(tki_end, tki_start),
                         dose=dose, dose_unit="mg/d"))
        pd1_start = min(t0 + int(rng.integers(0, 15)) * DAY, end)
        pd1_last = min(_course_end(o, stop, end, rng) or end, pd1_start + 730 * DAY)
        cycles = int(np.clip((pd1_last - pd1_start).days // 21 + 1, 1, 35))
        rows.append(dict(patient_id=pid, kind="PD1", agent=rec.pd1_agent, start_date=pd1_start,
                         end_date=pd1_start + (cycles - 1) * 21 * DAY,
                         dose=240.0 if rec.pd1_agent == "toripalimab" else 200.0, dose_unit="mg",
                         cycles=cycles))
        if pd.notna(o["non_protocol_date"]):
            rows.append(dict(patient_id=pid, kind="other_anticancer", agent=o["non_protocol_kind"],
                             start_date=o["non_protocol_date"], end_date=o["non_protocol_date"]))
        if pd.notna(o["progression_date"]) and rng.random() < 0.4:
            second = o["progression_date"] + int(rng.integers(7, 31)) * DAY
            # a non-protocol systemic therapy already recorded that day is the same treatment
            already = (o["non_protocol_kind"] == "systemic_other"
                       and pd.notna(o["non_protocol_date"]) and o["non_protocol_date"] == second)
            if second <= end and not already:
                rows.append(dict(patient_id=pid, kind="other_anticancer", agent="systemic_other",
                                 start_date=second, end_date=None))
    rows.extend(prior_treatment_rows(truth.latent))
    return pd.DataFrame(rows)


def _course_end(o: dict, stop: pd.Timestamp, end: pd.Timestamp, rng: np.random.Generator
                ) -> pd.Timestamp | None:
    """End of a continuous drug: a few weeks after progression, shortly before death, or open
    (ongoing at the last contact)."""
    if pd.notna(o["progression_date"]):
        return min(o["progression_date"] + int(rng.integers(0, 29)) * DAY, end)
    if pd.notna(o["death_date"]):
        return o["death_date"] - int(rng.integers(0, 15)) * DAY
    return None


def followup_table(truth: SimulatedLatent) -> pd.DataFrame:
    o = truth.outcomes
    return pd.DataFrame({"patient_id": o["patient_id"], "last_contact_date": o["last_contact_date"],
                         "death_date": o["death_date"], "death_cause": o["death_cause"],
                         "lost_to_followup": o["lost_to_followup"], "notes": None})


def adverse_events_table(truth: SimulatedLatent, anchor: pd.DataFrame,
                         treatments: pd.DataFrame) -> pd.DataFrame:
    a = anchor.set_index("patient_id")
    out_by = {r["patient_id"]: r for r in truth.outcomes.to_dict("records")}
    first = treatments.groupby(["patient_id", "kind"])["start_date"].min().to_dict()
    rows: list[dict] = []
    for rec in truth.latent.itertuples(index=False):
        rng = patient_rng(truth.seed, stage=STAGE_CRF_EVENTS, center_index=rec.center_index,
                          number=rec.number)
        pid = rec.patient_id
        end = _end_of_care(out_by[pid])
        biopsy = a.at[pid, "biopsy_date"]
        for term, grade, p, serious in BIOPSY_AES:
            if rng.random() < p:
                onset = min(biopsy + int(rng.integers(0, 8 if grade < 3 else 3)) * DAY, end)
                rows.append(dict(patient_id=pid, term=term, grade=grade, onset_date=onset,
                                 resolution_date=min(onset + int(rng.integers(1, 15)) * DAY, end),
                                 procedure="biopsy", attribution="definite" if grade >= 3 else "probable",
                                 serious=serious))
        for kind, term, grades, p in TREATMENT_AES:
            key = (pid, "TACE" if kind == "TACE" and rec.ia_modality == "TACE" else kind)
            if key not in first or rng.random() >= p:
                continue
            onset = min(first[key] + int(rng.integers(1, 30)) * DAY, end)
            grade = int(rng.choice(grades))
            rows.append(dict(patient_id=pid, term=term, grade=grade, onset_date=onset,
                             resolution_date=None if rng.random() < 0.3 else
                             min(onset + int(rng.integers(2, 40)) * DAY, end),
                             procedure=kind, attribution="probable" if grade > 1 else "possible",
                             serious=grade >= 3))
    rows = _unique_keys(rows)
    return pd.DataFrame(rows)


def _unique_keys(rows: list[dict]) -> list[dict]:
    seen, out = set(), []
    for r in rows:
        key = (r["patient_id"], r["term"], r["onset_date"])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def specimens_table(truth: SimulatedLatent, anchor: pd.DataFrame) -> pd.DataFrame:
    """One biopsy slide per patient (15 % two); prospective patients also give hepatic artery /
    vein blood at the first intra-arterial session, RNA and IHC from the biopsy, flow cytometry
    and metabolomics from peripheral blood (fates as the protocol states, domain.md §0)."""
    a = anchor.set_index("patient_id")
    rows: list[dict] = []
    for rec in truth.latent.itertuples(index=False):
        rng = patient_rng(truth.seed, stage=STAGE_CRF_EVENTS + 100, center_index=rec.center_index,
                          number=rec.number)
        pid = rec.patient_id
        biopsy, t0 = a.at[pid, "biopsy_date"], rec.t0
        for k in range(2 if rng.random() < 0.15 else 1):
            rows.append(_spec(pid, f"{pid}-B{k + 1}", "biopsy_wsi", "liver_tumour", biopsy,
                              slide_id=f"{pid}-HE{k + 1}"))
        if rec.cohort != "prospective":
            continue
        rows.append(_spec(pid, f"{pid}-HA1", "blood", "hepatic_artery_blood", t0))
        rows.append(_spec(pid, f"{pid}-HV1", "blood", "hepatic_vein_blood", t0))
        if rng.random() > 0.05:  # insufficient tissue for RNA in ≈ 5 %
            rows.append(_spec(pid, f"{pid}-R1", "rna", "liver_tumour", biopsy))
        rows.append(_spec(pid, f"{pid}-I1", "ihc", "liver_tumour", biopsy))
        rows.append(_spec(pid, f"{pid}-F1", "flow", "peripheral_blood", t0))
        rows.append(_spec(pid, f"{pid}-M1", "metabolomics", "peripheral_blood", t0))
    return pd.DataFrame(rows)


def _spec(pid: str, sample_id: str, kind: str, site: str, date: pd.Timestamp,
          slide_id: str | None = None) -> dict:
    return dict(patient_id=pid, sample_id=sample_id, slide_id=slide_id, kind=kind, site=site,
                date=date, path=None, fate=SPECIMEN_FATE[kind])
