"""One named failure case per validation rule: break one thing in the tiny CRF, check that the
finding names the rule, sheet, Excel row and column (and nothing fires on the clean CRF)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd
import pytest

from hccfusion.io.crf import RULE_NAMES, validate_crf, write_workbook

from .conftest import TODAY, tiny_tables

Tables = dict[str, pd.DataFrame]


def _set(table: str, row: int, **values: object) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        frame = t[table].astype(object)
        for col, value in values.items():
            if col not in frame.columns:
                frame[col] = None
            frame.at[row, col] = value
        t[table] = frame
    return mutate


def _append(table: str, **values: object) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        t[table] = pd.concat([t[table].astype(object), pd.DataFrame([values])], ignore_index=True)
    return mutate


def _drop(table: str, row: int) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        t[table] = t[table].drop(index=row).reset_index(drop=True)
    return mutate


def _both(*mutations: Callable[[Tables], None]) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        for m in mutations:
            m(t)
    return mutate


TS = pd.Timestamp
# (rule, mutation, sheet, Excel row, column, severity)
CASES = [
    ("required", _set("patients", 0, age_years=None), "patients", 2, "age_years", "error"),
    ("type", _set("labs", 0, value="abc"), "labs", 2, "value", "error"),
    ("type", _set("patients", 0, ecog=1.5), "patients", 2, "ecog", "error"),
    ("type", _set("patients", 0, cirrhosis="maybe"), "patients", 2, "cirrhosis", "error"),
    ("type", _set("treatments", 0, start_date="next week"), "treatments", 2, "start_date", "error"),
    ("unknown_code", _set("patients", 0, sex="X"), "patients", 2, "sex", "error"),
    ("unknown_code", _set("exams", 0, phases="arterial,venous-ish"), "exams", 2, "phases", "error"),
    ("out_of_range", _set("patients", 0, largest_diameter_mm=900), "patients", 2,
     "largest_diameter_mm", "error"),
    ("out_of_range", _set("labs", 0, value=380.0), "labs", 2, "value", "error"),
    ("outside_expected_range", _set("patients", 0, age_years=85), "patients", 2, "age_years",
     "warning"),
    ("outside_expected_range", _set("labs", 1, value=80.0), "labs", 3, "value", "warning"),
    ("partial_date", _set("patients", 0, diagnosis_date="2023-02"), "patients", 2,
     "diagnosis_date", "warning"),
    ("date_out_of_range", _set("patients", 0, diagnosis_date=TS("1923-02-10")), "patients", 2,
     "diagnosis_date", "error"),
    ("date_out_of_range", _set("followup", 1, last_contact_date=TS("2027-05-01")), "followup", 3,
     "last_contact_date", "error"),
    ("unknown_unit", _set("labs", 0, unit="mmol/L"), "labs", 2, "unit", "error"),
    ("missing_unit", _set("labs", 0, unit=None), "labs", 2, "unit", "error"),
    ("duplicate_key", _append("patients", patient_id="WX-0001", center="WX",
                              cohort="retrospective", age_years=60, sex="M", ecog=0, bclc="B",
                              tumour_number=1, largest_diameter_mm=30.0,
                              extrahepatic_spread=False), "patients", 4, "patient_id", "error"),
    ("unknown_patient", _set("labs", 0, patient_id="WX-9999"), "labs", 2, "patient_id", "error"),
    ("unknown_exam", _set("lesion_reads", 0, exam_id="WX-0001-E99"), "lesion_reads", 2, "exam_id",
     "error"),
    ("exam_patient_mismatch", _set("lesion_reads", 0, patient_id="NJ-0002"), "lesion_reads", 2,
     "patient_id", "error"),
    ("end_before_start", _set("treatments", 0, end_date=TS("2023-02-01")), "treatments", 2,
     "end_date", "error"),
    ("resolution_before_onset", _set("adverse_events", 0, resolution_date=TS("2023-02-20")),
     "adverse_events", 2, "resolution_date", "error"),
    ("agent_kind_mismatch", _set("treatments", 1, agent="camrelizumab"), "treatments", 3, "agent",
     "error"),
    ("cycles_out_of_range", _set("treatments", 0, cycles=20), "treatments", 2, "cycles", "error"),
    ("bclc_ecog_inconsistent", _set("patients", 1, ecog=1), "patients", 3, "bclc", "error"),
    ("bclc_vascular_inconsistent", _set("patients", 1, pvtt="Vp2"), "patients", 3, "bclc", "error"),
    ("ehs_sites_without_spread", _set("patients", 1, ehs_sites="lung"), "patients", 3, "ehs_sites",
     "error"),
    ("consent_missing", _set("patients", 1, consent_date=None), "patients", 3, "consent_date",
     "error"),
    ("consent_after_treatment", _set("patients", 1, consent_date=TS("2025-12-01")), "patients", 3,
     "consent_date", "error"),
    ("target_without_measurement", _set("lesion_reads", 0, viable_diameter_mm=None,
                                        longest_diameter_mm=None), "lesion_reads", 2,
     "viable_diameter_mm", "error"),
    ("viable_exceeds_longest", _set("lesion_reads", 0, viable_diameter_mm=70.0), "lesion_reads", 2,
     "viable_diameter_mm", "error"),
    ("unknown_ae_term", _set("adverse_events", 0, term="Tummy ache"), "adverse_events", 2, "term",
     "warning"),
    ("grade_not_defined_for_term", _set("adverse_events", 0, term="Sepsis", grade=2),
     "adverse_events", 2, "grade", "error"),
    ("grade5_without_death", _both(_set("adverse_events", 0, patient_id="NJ-0002", grade=5,
                                        onset_date=TS("2025-11-09"))),
     "adverse_events", 2, "grade", "error"),
    ("slide_id_missing", _set("specimens", 0, slide_id=None), "specimens", 2, "slide_id", "error"),
    ("specimen_fate_protocol", _set("specimens", 2, fate="preserved"), "specimens", 4, "fate",
     "warning"),
    ("death_before_other_date", _set("followup", 0, death_date=TS("2023-04-01")), "exams", 3, "date",
     "error"),
    ("death_before_other_date", _set("followup", 0, death_date=TS("2023-04-01")), "followup", 2,
     "last_contact_date", "error"),
    ("last_contact_before_imaging", _set("followup", 0, last_contact_date=TS("2023-04-01")),
     "followup", 2, "last_contact_date", "error"),
    ("no_followup_record", _drop("followup", 1), "patients", 3, "patient_id", "warning"),
    ("no_treatment_record", _both(_drop("treatments", 5), _drop("treatments", 4),
                                  _drop("treatments", 3)), "patients", 3, "patient_id", "warning"),
    ("baseline_scan_too_old", _set("exams", 0, date=TS("2023-01-01")), "patients", 2, "patient_id",
     "warning"),
    ("first_followup_late", _set("exams", 1, date=TS("2023-07-01")), "patients", 2, "patient_id",
     "warning"),
    ("followup_gap", _append("exams", exam_id="WX-0001-E03", patient_id="WX-0001",
                             date=TS("2023-09-01"), modality="CT"), "exams", 5, "date", "warning"),
    ("biopsy_window", _set("specimens", 0, date=TS("2022-11-01")), "specimens", 2, "date",
     "warning"),
]


def test_clean_crf_has_no_findings(workbook: Path) -> None:
    report = validate_crf(workbook, today=TODAY)
    assert report.issues == ()
    assert not report.has_errors and report.exit_code == 0


@pytest.mark.parametrize("rule, mutate, sheet, row, column, severity", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_names_sheet_row_and_column(tmp_path: Path, rule: str, mutate, sheet: str, row: int,
                                         column: str, severity: str) -> None:
    tables = tiny_tables()
    mutate(tables)
    path = write_workbook(tables, tmp_path / "crf.xlsx")
    report = validate_crf(path, today=TODAY)
    hits = [i for i in report.issues if i.rule == rule]
    assert hits, f"rule {rule} did not fire; got {[str(i) for i in report.issues]}"
    located = [i for i in hits if (i.sheet, i.row, i.column) == (sheet, row, column)]
    assert located, f"{rule} fired at {[(i.sheet, i.row, i.column) for i in hits]}"
    assert str(located[0].severity) == severity
    text = str(located[0])
    assert f"sheet '{sheet}'" in text and f"row {row}" in text and f"column '{column}'" in text
    assert report.exit_code == (1 if severity == "error" else 0) or report.has_errors


def test_every_rule_has_a_named_case() -> None:
    sheet_level = {"missing_column", "duplicate_column", "unknown_column"}  # tested in test_read
    covered = {c[0] for c in CASES} | sheet_level
    assert set(RULE_NAMES) <= covered, sorted(set(RULE_NAMES) - covered)


def test_unknown_code_suggests_the_nearest(tmp_path: Path) -> None:
    tables = tiny_tables()
    _set("treatments", 1, agent="lenvatinb")(tables)
    report = validate_crf(write_workbook(tables, tmp_path / "c.xlsx"), today=TODAY)
    (issue,) = [i for i in report.issues if i.rule == "unknown_code"]
    assert "did you mean 'lenvatinib'" in issue.message
