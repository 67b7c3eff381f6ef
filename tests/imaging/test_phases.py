"""Contrast phase identification: descriptions (English, Chinese), tags, timing, the exams table."""

from __future__ import annotations

import pytest

from hccfusion.errors import UsageError
from hccfusion.imaging.phases import (
    PHASES,
    PhaseEvidence,
    delay_seconds,
    identify_phase,
    identify_study_phases,
    seconds_of_day,
)

DESCRIPTIONS = [
    ("ART 1.25mm", "arterial", "'ART'"),
    ("Late Arterial 5.0 B30f", "arterial", "'ARTERIAL'"),
    ("AP 5mm", "arterial", "'AP'"),
    ("动脉期 1.25mm", "arterial", "'动脉'"),
    ("LIVER_ART_PHASE", "arterial", "'ART'"),
    ("PV 5mm", "portal_venous", "'PV'"),
    ("Portal venous 3.0 I30f", "portal_venous", "'PORTAL'"),
    ("PVP_70s", "portal_venous", "'PVP'"),
    ("门脉期", "portal_venous", "'门脉'"),
    ("门静脉期 5mm", "portal_venous", "'门静脉'"),
    ("Delay 3min", "delayed", "'DELAY'"),
    ("延迟期 5mm", "delayed", "'延迟'"),
    ("Equilibrium", "delayed", "'EQUILIBRIUM'"),
    ("PLAIN 5mm", "pre_contrast", "'PLAIN'"),
    ("NC abdomen", "pre_contrast", "'NC'"),
    ("平扫 5mm", "pre_contrast", "'平扫'"),
    ("Abd C- 5mm", "pre_contrast", "'C-'"),
    ("T1 HBP 20min", "hepatobiliary", "'HBP'"),
    ("肝胆期", "hepatobiliary", "'肝胆'"),
    ("Abdomen 35s", "arterial", "delay of 35S"),
    ("Abdomen 70 sec", "portal_venous", "delay of 70 SEC"),
    ("Abdomen 3 min", "delayed", "delay of 3 MIN"),
]


@pytest.mark.parametrize(("description", "phase", "evidence"), DESCRIPTIONS)
def test_description_table(description, phase, evidence):
    choice = identify_phase(series_description=description)
    assert choice.phase == phase
    assert choice.source == "series description"
    assert choice.reason.startswith(f"series description '{description}'")
    assert evidence in choice.reason


@pytest.mark.parametrize(
    "description",
    ["Abdomen 5.0 B31s", "CAP", "ARTEFACT", "PREVIEW", "Body 1.0 Br40"],  # kernels and words that only contain keywords
)
def test_uninformative_descriptions_decide_nothing(description):
    choice = identify_phase(series_description=description)
    assert (choice.phase, choice.source) == (None, "none")
    assert "names no phase" in choice.reason


def test_conflicting_keywords_are_reported_not_guessed():
    choice = identify_phase(series_description="ART/PV fusion")
    assert choice.phase is None
    assert "names several phases: arterial ('ART'); portal_venous ('PV')" in choice.reason


def test_dicom_tags():
    empty = identify_phase(series_description="Abdomen 5mm", contrast_agent="")
    assert (empty.phase, empty.source) == ("pre_contrast", "dicom tags")
    assert "ContrastBolusAgent is empty" in empty.reason
    timed = identify_phase(contrast_agent="Iohexol", acquisition_time="101235", contrast_start_time="101200")
    assert (timed.phase, timed.source) == ("arterial", "dicom tags")
    assert timed.reason == "acquired 35 s after ContrastBolusStartTime"
    assert identify_phase(contrast_agent="X", acquisition_time="10:13:10", contrast_start_time="10:12:00").phase == "portal_venous"
    assert identify_phase(contrast_agent="X", acquisition_time="101700", contrast_start_time="101200").phase == "delayed"
    hbp = dict(contrast_agent="Gd-EOB", acquisition_time="103200", contrast_start_time="101200")
    assert identify_phase(**hbp, modality="MR").phase == "hepatobiliary"
    assert identify_phase(**hbp, modality="CT").phase == "delayed"
    unknown = identify_phase(contrast_agent="Iohexol")
    assert unknown.phase is None and "contrast given (Iohexol) but no timing" in unknown.reason
    # The description outranks the tags.
    assert identify_phase(series_description="PV", contrast_agent="X", acquisition_time="101235",
                          contrast_start_time="101200").phase == "portal_venous"


def test_file_name_is_the_last_resort():
    choice = identify_phase(file_name="portal_venous.nii.gz")
    assert (choice.phase, choice.source) == ("portal_venous", "file name")
    assert identify_phase(file_name="IM0001.dcm").phase is None


def test_exams_table_wins_over_the_images_and_says_so():
    choice = identify_phase(series_description="ART 5mm", exams_phases=("portal_venous",))
    assert (choice.phase, choice.source) == ("portal_venous", "exams table")
    assert choice.reason == (
        "exams table lists only portal_venous; it overrules the images' arterial "
        "(series description 'ART 5mm' has 'ART')"
    )
    agree = identify_phase(series_description="PV", exams_phases=("portal_venous",))
    assert agree.source == "exams table" and agree.reason.startswith("exams table lists only portal_venous (")
    listed = identify_phase(series_description="动脉期", exams_phases=("arterial", "portal_venous"))
    assert listed.phase == "arterial" and "listed in the exams table (arterial, portal_venous)" in listed.reason
    unlisted = identify_phase(series_description="Delay", exams_phases=("arterial", "portal_venous"))
    assert unlisted.phase is None and "overrules the images' delayed" in unlisted.reason
    assert identify_phase(exams_phases="arterial,portal_venous").phase is None  # the table's string form


def test_unknown_exams_phase_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown phase 'portal'; did you mean 'portal_venous'"):
        identify_phase(exams_phases=("portal",))
    with pytest.raises(UsageError, match="must list at least one phase"):
        identify_phase(exams_phases=())


def test_study_uses_acquisition_order_when_descriptions_are_uninformative():
    series = [
        PhaseEvidence(label="s3", series_description="Abdomen 5.0", contrast_agent="Iohexol", acquisition_time="101312"),
        PhaseEvidence(label="s1", series_description="Abdomen 5.0", contrast_agent="", acquisition_time="100900"),
        PhaseEvidence(label="s2", series_description="Abdomen 5.0", contrast_agent="Iohexol", acquisition_time="101240"),
    ]
    choices = identify_study_phases(series)
    assert [c.phase for c in choices] == ["portal_venous", "pre_contrast", "arterial"]
    assert choices[0].source == "dicom tags" and "so portal_venous by acquisition order" in choices[0].reason
    # With the exams table: the listed phases go to the undecided series in acquisition order.
    no_agent = [PhaseEvidence(label=s.label, series_description="Abdomen", acquisition_time=s.acquisition_time) for s in series]
    table = identify_study_phases(no_agent, exams_phases=("pre_contrast", "arterial", "portal_venous"))
    assert [c.phase for c in table] == ["portal_venous", "pre_contrast", "arterial"]
    assert all(c.source == "exams table" for c in table)
    # Without times, nothing is guessed.
    untimed = [PhaseEvidence(series_description="Abdomen", contrast_agent="X")] * 2
    assert [c.phase for c in identify_study_phases(untimed)] == [None, None]


def test_study_with_table_keeps_listed_and_drops_unlisted_series():
    series = [
        PhaseEvidence(series_description="ART"),
        PhaseEvidence(series_description="PV"),
        PhaseEvidence(series_description="Abdomen"),
    ]
    choices = identify_study_phases(series, exams_phases=("portal_venous", "delayed"))
    assert [c.phase for c in choices] == [None, "portal_venous", "delayed"]
    assert choices[0].reason.endswith("but the exams table lists only portal_venous, delayed: not used")
    assert "the only undecided series, so delayed" in choices[2].reason


def test_times():
    assert seconds_of_day("101235.5") == pytest.approx(10 * 3600 + 12 * 60 + 35.5)
    assert seconds_of_day("10") == 36000 and seconds_of_day("bad") is None
    assert delay_seconds(acquisition_time="000010", contrast_start_time="235950") == 20  # across midnight
    assert delay_seconds(acquisition_time="120000", contrast_start_time="060000") is None
    assert PHASES == ("pre_contrast", "arterial", "portal_venous", "delayed", "hepatobiliary")
