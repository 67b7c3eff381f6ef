"""The rules that apply the attribute actions of DICOM PS3.15 Annex E, Table E.1-1, to one data
set (:func:`clean_dataset`); the table itself, as data, is :mod:`hccfusion.deid.dicom_profile_table`
(``BASIC_PROFILE`` is importable from here too).

We apply the **Basic Application Level Confidentiality Profile** (code 113100) with two options:

- **Retain Longitudinal Temporal Information with Modified Dates** (113107): every date (DA) and
  date-time (DT) of a patient moves by the patient's one offset
  (:func:`hccfusion.deid.pseudonym.date_offset_days`, the same shift as the shared tables), so
  intervals between exams stay exact; times of day (TM) are kept, which is consistent with a
  whole-day shift. Birth date and time are not "longitudinal" and are removed (Z / X).
- **Retain Patient Characteristics** (113108), restricted to the structured ones: sex, age, size
  and weight are kept; an age above 89 years is stored as ``090Y`` (HIPAA Safe Harbor, as in the
  tabular export). The free-text characteristics (allergies, medical alerts, smoking and
  pregnancy status, ethnic group, occupation …) follow the Basic Profile (removed).

- **Clean Descriptors** (113105), restricted to the four descriptors that name a contrast phase
  (Study and Series Description, Protocol Name, Contrast/Bolus Agent), which the phase
  identification of :mod:`hccfusion.imaging.phases` reads. "Clean" is a vocabulary test: a value
  is kept only when every word is an acquisition word (phase, anatomy, technique, contrast
  agent, unit; :data:`DESCRIPTOR_WORDS`) and every number has at most four digits; otherwise the
  description is removed (the agent, when present, becomes ``ANONYMIZED`` so it still reads as
  "contrast given"). Every other descriptor follows the Basic Profile.

Device identity, safe private attributes, UIDs and structured content are *not* retained:
private attributes are removed, UIDs are remapped, other descriptions and comments removed.

The table keeps the standard's own action codes (D, Z, X, K, U and the "X/Z", "X/D", "X/Z/D",
"Z/D", "X/Z/U*" choices) keyed by tag. A choice is resolved conservatively without the IOD:
X/Z, Z/D and X/Z/D → Z (a zero-length value is legal for Type 2 and 3 attributes), X/D → X,
X/Z/U* → keep the sequence and remap the UIDs inside it. D on a sequence empties it.

Beyond the table (stricter than the profile, never looser): every UID that is not a registered
DICOM UID (a SOP class, transfer syntax, coding scheme) is remapped wherever it occurs; every
person name (PN) outside the table is emptied; public attributes of unknown VR (UN) are removed;
group lengths are dropped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from hccfusion.deid.dicom_profile_table import _TABLE_E11, BASIC_PROFILE  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from hccfusion.deid.pseudonym import DeidKey

#: How a choice between actions is resolved without the IOD (see the module docstring).
RESOLVE: dict[str, str] = {"D": "D", "Z": "Z", "X": "X", "U": "U", "K": "K", "Z/D": "Z",
                           "X/Z": "Z", "X/D": "X", "X/Z/D": "Z", "X/Z/U*": "U"}

#: Retain Patient Characteristics (restricted): sex, age (top-coded), size, weight.
PATIENT_CHARACTERISTICS: frozenset[int] = frozenset({0x00100040, 0x00101010, 0x00101020,
                                                     0x00101030})
#: Dates that the temporal option does not retain: birth and death dates, birth time.
NOT_LONGITUDINAL: frozenset[int] = frozenset({0x00100030, 0x00100032, 0x00100033, 0x00100034})
#: Tags whose UID names a class or encoding, not an instance: never remapped.
CLASS_UID_TAGS: frozenset[int] = frozenset({0x00020002, 0x00020010, 0x00020012, 0x00080016,
                                            0x00081150, 0x0008010C, 0x00080062, 0x00041510,
                                            0x00041512})
#: CID 7050 codes written to DeidentificationMethodCodeSequence (scheme DCM).
METHOD_CODES: tuple[tuple[str, str], ...] = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    ("113108", "Retain Patient Characteristics Option"),
    ("113105", "Clean Descriptors Option"),
)
#: Descriptors cleaned rather than removed: Study/Series Description, Protocol Name, agent.
CLEAN_DESCRIPTORS: frozenset[int] = frozenset({0x00081030, 0x0008103E, 0x00181030, 0x00180010})
_CONTRAST_AGENT = 0x00180010
#: The words a cleaned descriptor may contain (upper case; CJK words matched as substrings).
DESCRIPTOR_WORDS: frozenset[str] = frozenset("""
    PLAIN NC NCCT NON CONTRAST NONCONTRAST UNENHANCED NATIVE PRE PRECONTRAST POST POSTCONTRAST
    WITHOUT WITH W WO O C ART ARTERIAL ARTERY AP LAP EAP HAP LATE EARLY PV PVP VP PORTAL VENOUS
    VEN DELAY DELAYED DEL DL EQ EQUILIBRIUM TRANSITIONAL PHASE PHASES HBP HEPATOBILIARY HEPATOCYTE
    ENHANCED ENHANCEMENT DYNAMIC MULTIPHASE MULTIPHASIC TRIPHASIC BIPHASIC
    ABDOMEN ABD ABDO ABDOMINAL LIVER HEPATIC UPPER LOWER CHEST THORAX PELVIS WHOLE BODY
    CT MR MRI AXIAL AX AXI COR CORONAL SAG SAGITTAL MPR MIP MINIP THIN THICK SLICE SLICES MM CM
    S SEC SECS SECOND SECONDS MIN MINS MINUTE MINUTES KV KVP MAS HELICAL SPIRAL ROUTINE STANDARD
    STD SOFT TISSUE BONE LUNG KERNEL RECON ITERATIVE FBP ASIR SCOUT TOPOGRAM LOCALIZER SURVIEW
    DOSE SERIES IMAGE IMAGES BOLUS TRACKING MONITORING IV ORAL AND OF T DWI ADC FS FAT SAT IN
    OPP OUT VIBE LAVA THRIVE GD EOB IOHEXOL IOPAMIDOL IODIXANOL IOPROMIDE IOVERSOL IOMEPROL
    OMNIPAQUE ISOVUE VISIPAQUE ULTRAVIST OPTIRAY IOMERON GADOXETATE GADOXETIC ACID EOVIST
    PRIMOVIST GADOBUTROL GADAVIST GADOVIST GADOTERATE DOTAREM MAGNEVIST MULTIHANCE PROHANCE
    IODINE IODINATED NONIONIC ML MG MGI I SEGMENTATION SEG MASK LESION LESIONS TUMOR TUMOUR HCC
    平扫 非增强 增强前 增强 动脉期 动脉 门脉期 门脉 门静脉期 门静脉 静脉期 静脉 延迟期 延迟 平衡期
    肝胆期 肝胆 期 相 腹部 上腹部 上腹 下腹 全腹 肝脏 肝 胸部 盆腔 轴位 冠状位 矢状位 薄层 厚层 秒
    分钟 碘海醇 碘克沙醇 碘帕醇 碘普罗胺 钆塞酸二钠 钆 造影剂 对比剂 动态 三期 多期 扫描
""".split())
_CJK_WORDS = sorted((w for w in DESCRIPTOR_WORDS if not w.isascii()), key=len, reverse=True)
AGE_TOP_CODE_YEARS = 90
DUMMY_TEXT = "ANONYMIZED"
_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"})


def is_clean_descriptor(text: str) -> bool:
    """True when every word of ``text`` is in :data:`DESCRIPTOR_WORDS` and every number has at
    most four digits (a name, record number or date fails)."""
    import re

    for token in re.findall(r"[A-Z]+|[0-9]+|[^\x00-\x7f]+", str(text).upper()):
        if token.isdigit():
            if len(token) > 4:
                return False
        elif token.isascii():
            if token not in DESCRIPTOR_WORDS:
                return False
        else:
            rest = token
            for word in _CJK_WORDS:
                rest = rest.replace(word, " ")
            if rest.strip():
                return False
    return True


def standard_action(tag: int) -> str | None:
    """The Basic Profile action code of ``tag`` (curves and overlays included), or None when
    Table E.1-1 does not list it (the profile then keeps the attribute)."""
    group, element = tag >> 16, tag & 0xFFFF
    if 0x5000 <= group <= 0x50FF and group % 2 == 0:
        return "X"  # curve data, retired
    if 0x6000 <= group <= 0x60FF and group % 2 == 0 and element in (0x3000, 0x4000):
        return "X"  # overlay data, overlay comments
    return BASIC_PROFILE.get(tag)


def remap_uid(key: DeidKey, uid: str) -> str:
    """A keyed, deterministic replacement UID: ``2.25.<128-bit integer>`` (PS3.5 B.2).

    The same ``uid`` and key always give the same result, so references between files stay
    consistent; without the key the original cannot be recovered."""
    digest = hmac.new(key.secret, f"hccfusion-dicom-uid\x1f{uid}".encode("ascii", "replace"),
                      hashlib.sha256).digest()[:16]
    return f"2.25.{int.from_bytes(digest, 'big')}"


def _is_registered_uid(uid: str) -> bool:
    from pydicom.uid import UID_dictionary

    return uid in UID_dictionary


def shift_da(value: str, offset_days: int) -> str:
    """Shift a DA value ``YYYYMMDD`` by ``offset_days``; '' for a value that is not a full date."""
    try:
        day = dt.datetime.strptime(value.strip(), "%Y%m%d").date()
    except ValueError:
        return ""
    return (day + dt.timedelta(days=offset_days)).strftime("%Y%m%d")


def shift_dt(value: str, offset_days: int) -> str:
    """Shift the date part of a DT value, keeping the time, fraction and UTC offset; '' when the
    value does not start with a full date."""
    value = value.strip()
    shifted = shift_da(value[:8], offset_days)
    return shifted + value[8:] if shifted else ""


def top_code_age(value: str) -> str:
    """``091Y`` → ``090Y``: ages above 89 years are stored as 90 (other units unchanged)."""
    value = value.strip()
    if len(value) == 4 and value.endswith("Y") and value[:3].isdigit() \
            and int(value[:3]) >= AGE_TOP_CODE_YEARS:
        return f"{AGE_TOP_CODE_YEARS:03d}Y"
    return value


@dataclass
class CleanStats:
    """What :func:`clean_dataset` did to one data set (counts) and the UIDs it replaced."""

    private_removed: int = 0
    removed: int = 0
    emptied: int = 0
    dates_shifted: int = 0
    uids: dict[str, str] = field(default_factory=dict)


def _values(elem: object) -> list:
    from pydicom.multival import MultiValue

    value = elem.value  # type: ignore[attr-defined]
    return list(value) if isinstance(value, (list, MultiValue)) else [value]


def _set(elem: object, new: list) -> None:
    elem.value = new if len(new) != 1 else new[0]  # type: ignore[attr-defined]


def _dummy(vr: str) -> object:
    if vr in _TEXT_VRS:
        return DUMMY_TEXT
    if vr in ("IS", "DS"):
        return "0"
    if vr in ("US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"):
        return 0
    return b"" if vr.startswith("O") or vr == "UN" else ""


def clean_dataset(ds: Dataset, *, key: DeidKey, offset_days: int, stats: CleanStats) -> None:
    """Apply the profile to ``ds`` in place, recursing into every sequence item.

    The Patient ID / Patient Name pseudonyms, the de-identification method attributes and the
    file meta are set by the caller; Pixel Data is never read or touched.
    """
    def uid(value: str) -> str:
        if not value or _is_registered_uid(value):
            return value
        new = stats.uids.get(value)
        if new is None:
            new = stats.uids[value] = remap_uid(key, value)
        return new

    for elem in list(ds):
        tag, vr = int(elem.tag), elem.VR
        if elem.tag.is_private:
            del ds[tag]
            stats.private_removed += 1
            continue
        if tag & 0xFFFF == 0 and tag >> 16 != 0x0002:
            del ds[tag]  # group length: would be wrong after the changes
            continue
        if tag == 0x7FE00010:
            continue
        code = standard_action(tag)
        action = RESOLVE[code] if code else "K"
        if tag in PATIENT_CHARACTERISTICS:
            action = "K"
        elif tag in CLEAN_DESCRIPTORS:
            action = "C"
        if vr in ("DA", "DT") and tag not in NOT_LONGITUDINAL and action != "U":
            action = "SHIFT"
        elif vr == "TM" and tag not in NOT_LONGITUDINAL and action != "U":
            action = "K"
        elif code is None and vr == "PN":
            action = "Z"
        elif code is None and vr == "UN":
            action = "X"
        _apply(ds, elem, action, uid=uid, key=key, offset_days=offset_days, stats=stats)


def _apply(ds: Dataset, elem: object, action: str, *, uid: Callable[[str], str], key: DeidKey,
           offset_days: int, stats: CleanStats) -> None:
    from pydicom.sequence import Sequence

    tag, vr = int(elem.tag), elem.VR  # type: ignore[attr-defined]
    if action == "X":
        del ds[tag]
        stats.removed += 1
    elif vr == "SQ":
        if action in ("Z", "D"):
            elem.value = Sequence()  # type: ignore[attr-defined]
            stats.emptied += 1
        else:
            for item in elem.value:  # type: ignore[attr-defined]
                clean_dataset(item, key=key, offset_days=offset_days, stats=stats)
    elif action == "C":
        text = str(elem.value or "")  # type: ignore[attr-defined]
        if text.strip() and not is_clean_descriptor(text):
            if tag == _CONTRAST_AGENT:
                elem.value = DUMMY_TEXT  # type: ignore[attr-defined]
                stats.emptied += 1
            else:
                del ds[tag]
                stats.removed += 1
    elif action == "Z":
        elem.value = b"" if vr.startswith("O") or vr == "UN" else ""  # type: ignore[attr-defined]
        stats.emptied += 1
    elif action == "D":
        elem.value = _dummy(vr)  # type: ignore[attr-defined]
        stats.emptied += 1
    elif action == "SHIFT" and elem.value not in (None, ""):  # type: ignore[attr-defined]
        shift = shift_da if vr == "DA" else shift_dt
        _set(elem, [shift(str(v), offset_days) for v in _values(elem)])
        stats.dates_shifted += 1
    elif vr == "UI" and tag not in CLASS_UID_TAGS and elem.value:  # type: ignore[attr-defined]
        _set(elem, [uid(str(v)) for v in _values(elem)])
    elif tag == 0x00101010 and elem.value:  # type: ignore[attr-defined]
        elem.value = top_code_age(str(elem.value))  # type: ignore[attr-defined]


#: Attributes whose original values must not appear anywhere in the output (the leak check).
NEEDLE_KEYWORDS: tuple[str, ...] = (
    "PatientID", "PatientName", "OtherPatientIDs", "OtherPatientNames", "PatientBirthName",
    "PatientMotherBirthName", "PatientBirthDate", "PatientAddress", "PatientTelephoneNumbers",
    "AccessionNumber", "StudyID", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "ReferringPhysicianName", "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy", "PhysiciansOfRecord", "OperatorsName", "RequestingPhysician",
    "StationName", "MedicalRecordLocator", "AdmissionID", "IssuerOfPatientID",
)
MIN_NEEDLE_CHARS = 3


def identifier_needles(ds: Dataset, *, patient_id: str) -> set[str]:
    """The original identifying values of ``ds`` (whole values and name components of at least
    :data:`MIN_NEEDLE_CHARS` characters, case-folded), plus the study ``patient_id``; read
    before :func:`clean_dataset`."""
    found = {patient_id}
    for kw in NEEDLE_KEYWORDS:
        if kw not in ds or ds[kw].value in (None, ""):
            continue
        elem = ds[kw]
        for v in (list(elem.value) if elem.VM > 1 else [elem.value]):
            text = str(v).strip()
            found.add(text)
            found.update(p.strip() for p in text.replace("=", "^").split("^"))
    return {n.casefold() for n in found if len(n) >= MIN_NEEDLE_CHARS}


def clean_leaks(ds: Dataset, needles: set[str]) -> int:
    """Empty every text attribute (sequences included) that still contains one of ``needles``
    (case-insensitive); returns how many were emptied. Stricter than the profile: it catches an
    identifier copied into an attribute that the profile keeps."""
    n = 0
    for elem in list(ds):
        if elem.VR == "SQ":
            n += sum(clean_leaks(item, needles) for item in elem.value)
        elif elem.VR in _TEXT_VRS and elem.value not in (None, ""):
            text = str(elem.value).casefold()
            if any(needle in text for needle in needles):
                elem.value = ""
                n += 1
    return n


def mark_deidentified(ds: Dataset, *, alias: str) -> None:
    """Set Patient ID and Name to ``alias`` and record the method (PS3.15 E.1.1: Patient
    Identity Removed, De-identification Method and its code sequence, and the modified-dates
    flag)."""
    from pydicom.dataset import Dataset as Item
    from pydicom.sequence import Sequence

    from hccfusion import __version__

    ds.PatientID = alias
    ds.PatientName = alias
    ds.PatientIdentityRemoved = "YES"
    ds.LongitudinalTemporalInformationModified = "MODIFIED"
    ds.DeidentificationMethod = [f"hccfusion {__version__}"[:64], "PS3.15 Basic Profile",
                                 "Retain Longitudinal Modified Dates",
                                 "Retain Patient Characteristics", "Clean Descriptors"]
    codes = []
    for value, meaning in METHOD_CODES:
        item = Item()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        codes.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(codes)
