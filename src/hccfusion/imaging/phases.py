"""Contrast phase of a series: from the ``exams`` table, the series description, DICOM tags or a
file name, with the reason for every choice.

The evidence is weighed in this order:

1. the ``exams`` table (``phases`` column) when it is given: it is what the study recorded, so it
   wins over anything in the images, and a series whose own evidence disagrees is overruled
   (the reason says so);
2. the series description (English and Chinese keywords: ``ART``, ``arterial``, ``AP``, ``动脉期``,
   ``PV``, ``portal``, ``门脉期``, ``delay``, ``延迟``, ``plain``, ``NC``, ``平扫`` …, and delays
   written as ``35s`` or ``20 min``);
3. DICOM tags: the delay from ContrastBolusStartTime to AcquisitionTime, and an empty
   ContrastBolusAgent (no contrast given → pre-contrast);
4. the file name (``arterial.nii.gz``, ``pv.nii.gz``, ``平扫.nii.gz``);
5. among the series of one study that are still undecided, the acquisition order (arterial before
   portal-venous before delayed) — see ``identify_study_phases``.

Delay thresholds (seconds after the start of injection; late arterial ~35 s, portal-venous
60–80 s, delayed/equilibrium 3–5 min, hepatobiliary 20 min with gadoxetate): arterial 10–45 s,
portal-venous 45–120 s, delayed 120–900 s, hepatobiliary ≥ 900 s on MR (delayed on CT).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from hccfusion.errors import UsageError, unknown_option

PHASES = ("pre_contrast", "arterial", "portal_venous", "delayed", "hepatobiliary")
SOURCES = ("exams table", "series description", "dicom tags", "file name", "none")
CONTRAST_PHASES = ("arterial", "portal_venous", "delayed")

_ASCII_KEYWORDS: dict[str, tuple[str, ...]] = {
    "pre_contrast": ("PLAIN", "NC", "NCCT", "NON CONTRAST", "NON-CONTRAST", "NONCONTRAST", "UNENHANCED",
                     "NATIVE", "PRE", "PRECONTRAST", "PRE-CONTRAST", "PRE CONTRAST", "WITHOUT CONTRAST", "W/O", "C-"),
    "arterial": ("ART", "ARTERIAL", "ARTERY", "AP", "LAP", "EAP", "HAP", "LATE ARTERIAL", "EARLY ARTERIAL"),
    "portal_venous": ("PV", "PVP", "VP", "PORTAL", "PORTAL VENOUS", "PORTAL-VENOUS", "VENOUS", "VEN"),
    "delayed": ("DELAY", "DELAYED", "DEL", "DL", "EQ", "EQUILIBRIUM", "TRANSITIONAL", "LATE PHASE"),
    "hepatobiliary": ("HBP", "HEPATOBILIARY", "HEPATOCYTE", "HEPATOCYTE PHASE"),
}
_CHINESE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "pre_contrast": ("平扫", "非增强", "增强前"),
    "arterial": ("动脉",),
    "portal_venous": ("门脉", "门静脉", "静脉期"),
    "delayed": ("延迟", "平衡期"),
    "hepatobiliary": ("肝胆",),
}
_MINUTES = re.compile(r"(?<![A-Z0-9.])(\d+(?:\.\d+)?)\s*(?:MINUTES|MINS|MIN|分钟)(?![A-Z])")
_SECONDS = re.compile(r"(?<![A-Z0-9.])(\d+(?:\.\d+)?)\s*(?:SECONDS|SECS|SEC|S|秒)(?![A-Z])")
_NO_AGENT = ("", "NONE", "NO", "N/A", "NA", "无")


def _keyword_pattern(word: str) -> re.Pattern[str]:
    # Letters only as boundaries: "PV70s" and "ART_1" match, "CAP" and "ARTEFACT" do not.
    body = re.escape(word).replace(r"\ ", r"[\s_\-]*")
    return re.compile(rf"(?<![A-Z]){body}(?![A-Z])")


_PATTERNS = {phase: tuple(_keyword_pattern(w) for w in words) for phase, words in _ASCII_KEYWORDS.items()}


@dataclass(frozen=True)
class PhaseChoice:
    """The phase chosen for one series or file, and why.

    Attributes
    ----------
    phase : str or None
        One of ``PHASES``, or None when nothing decided it.
    reason : str
        A human sentence naming the evidence (e.g. "series description 'ART 5mm' has 'ART'").
    source : str
        ``"exams table"``, ``"series description"``, ``"dicom tags"``, ``"file name"`` or ``"none"``.
    """

    phase: str | None
    reason: str
    source: str


@dataclass(frozen=True)
class PhaseEvidence:
    """What is known about one series of a study (the keywords of ``identify_phase``).

    ``label`` names the series in the reasons (e.g. its folder); the rest as in ``identify_phase``.
    """

    label: str = ""
    series_description: str = ""
    contrast_agent: str | None = None
    acquisition_time: str | None = None
    contrast_start_time: str | None = None
    modality: str = ""
    file_name: str = ""


def seconds_of_day(value: str | None) -> float | None:
    """Seconds since midnight of a DICOM TM value (``HHMMSS.FFFFFF``, also ``HH:MM:SS``), or None."""
    if value is None:
        return None
    text = str(value).strip().replace(":", "")
    match = re.fullmatch(r"(\d{2})(\d{2})?(\d{2}(?:\.\d*)?)?", text)
    if not match:
        return None
    hours, minutes, seconds = match.group(1), match.group(2) or "0", match.group(3) or "0"
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def delay_seconds(*, acquisition_time: str | None, contrast_start_time: str | None) -> float | None:
    """Seconds from the start of contrast injection to the acquisition (DICOM TM values), or None.

    A negative difference is taken to cross midnight; a delay over 4 h is treated as unknown.
    """
    acquired, started = seconds_of_day(acquisition_time), seconds_of_day(contrast_start_time)
    if acquired is None or started is None:
        return None
    delay = acquired - started
    if delay < 0:
        delay += 86400.0
    return delay if delay <= 4 * 3600 else None


def phase_from_delay(delay_s: float, *, modality: str = "") -> str | None:
    """Phase of an acquisition ``delay_s`` seconds after injection (thresholds in the module doc)."""
    if delay_s < 10:
        return None
    if delay_s < 45:
        return "arterial"
    if delay_s < 120:
        return "portal_venous"
    if delay_s >= 900 and modality.upper() == "MR":
        return "hepatobiliary"
    return "delayed"


def phase_from_text(text: str, *, modality: str = "") -> tuple[str | None, str]:
    """Phase named by a free text (series description or file name), and the words that named it.

    Returns
    -------
    phase : str or None
        None when no keyword matched or keywords of different phases matched.
    evidence : str
        The matched keywords, or why no phase was taken (empty when nothing matched).
    """
    upper = str(text).upper()
    found: dict[str, list[str]] = {}
    for phase, patterns in _PATTERNS.items():
        for word, pattern in zip(_ASCII_KEYWORDS[phase], patterns):
            if pattern.search(upper):
                found.setdefault(phase, []).append(word)
    for phase, words in _CHINESE_KEYWORDS.items():
        for word in words:
            if word in text:
                found.setdefault(phase, []).append(word)
    if len(found) == 1:
        phase, words = next(iter(found.items()))
        return phase, "has " + ", ".join(f"'{w}'" for w in dict.fromkeys(words))
    if len(found) > 1:
        named = "; ".join(f"{p} ({', '.join(repr(w) for w in ws)})" for p, ws in found.items())
        return None, f"names several phases: {named}"
    minutes = _MINUTES.search(upper)
    if minutes:
        delay = float(minutes.group(1)) * 60.0
        return phase_from_delay(delay, modality=modality), f"gives a delay of {minutes.group(0).strip()}"
    seconds = _SECONDS.search(upper)
    if seconds:
        delay = float(seconds.group(1))
        return phase_from_delay(delay, modality=modality), f"gives a delay of {seconds.group(0).strip()}"
    return None, ""


def _check_exams_phases(exams_phases: Sequence[str] | None) -> tuple[str, ...] | None:
    if exams_phases is None:
        return None
    if isinstance(exams_phases, str):
        exams_phases = [p for p in re.split(r"[,;|\s]+", exams_phases) if p]
    checked = []
    for phase in exams_phases:
        if phase not in PHASES:
            raise unknown_option("phase", str(phase), PHASES)
        checked.append(phase)
    if not checked:
        raise UsageError("The 'exams_phases' parameter of identify_phase must list at least one phase. Got () instead.")
    return tuple(dict.fromkeys(checked))


def _own_evidence(evidence: PhaseEvidence) -> PhaseChoice:
    """The phase from the series itself (description, tags, file name), ignoring the exams table."""
    notes = []
    if evidence.series_description.strip():
        phase, why = phase_from_text(evidence.series_description, modality=evidence.modality)
        said = f"series description '{evidence.series_description}'"
        if phase:
            return PhaseChoice(phase, f"{said} {why}", "series description")
        notes.append(f"{said} {why}" if why else f"{said} names no phase")
    delay = delay_seconds(acquisition_time=evidence.acquisition_time, contrast_start_time=evidence.contrast_start_time)
    agent = evidence.contrast_agent
    if agent is not None and agent.strip().upper() in _NO_AGENT:
        return PhaseChoice("pre_contrast", "; ".join([*notes, "ContrastBolusAgent is empty (no contrast)"]), "dicom tags")
    if delay is not None:
        phase = phase_from_delay(delay, modality=evidence.modality)
        said = f"acquired {delay:.0f} s after ContrastBolusStartTime"
        if phase:
            return PhaseChoice(phase, "; ".join([*notes, said]), "dicom tags")
        notes.append(f"{said} (too early to call)")
    if evidence.file_name:
        phase, why = phase_from_text(evidence.file_name, modality=evidence.modality)
        if phase:
            return PhaseChoice(phase, "; ".join([*notes, f"file name '{evidence.file_name}' {why}"]), "file name")
        if why:
            notes.append(f"file name '{evidence.file_name}' {why}")
    if agent:
        notes.append(f"contrast given ({agent}) but no timing")
    return PhaseChoice(None, "; ".join(notes) or "no description, contrast tags or informative file name", "none")


def identify_phase(
    *,
    series_description: str = "",
    contrast_agent: str | None = None,
    acquisition_time: str | None = None,
    contrast_start_time: str | None = None,
    modality: str = "",
    file_name: str = "",
    exams_phases: Sequence[str] | None = None,
) -> PhaseChoice:
    """The contrast phase of one series, with the reason.

    Parameters
    ----------
    series_description : str
        DICOM SeriesDescription (or any label a site uses), English or Chinese.
    contrast_agent : str or None
        DICOM ContrastBolusAgent: None when the tag is absent (unknown), ``""`` when present and
        empty (no contrast → ``pre_contrast``).
    acquisition_time, contrast_start_time : str or None
        DICOM TM values (AcquisitionTime or SeriesTime, ContrastBolusStartTime); their difference
        is the delay after injection.
    modality : str
        ``"CT"`` or ``"MR"`` (a delay ≥ 15 min is hepatobiliary on MR only).
    file_name : str
        Name of the file or folder (``arterial.nii.gz``).
    exams_phases : sequence of str or None
        Phases the ``exams`` table lists for this exam (codes of ``PHASES``). One phase decides;
        several accept the series' own phase only when it is one of them.

    Returns
    -------
    PhaseChoice

    Raises
    ------
    hccfusion.errors.UsageError
        An unknown phase in ``exams_phases``.

    Examples
    --------
    >>> identify_phase(series_description="动脉期 1.25mm").phase
    'arterial'
    >>> identify_phase(series_description="ART", exams_phases=("portal_venous",)).source
    'exams table'
    """
    table = _check_exams_phases(exams_phases)
    own = _own_evidence(
        PhaseEvidence(
            series_description=series_description or "",
            contrast_agent=contrast_agent,
            acquisition_time=acquisition_time,
            contrast_start_time=contrast_start_time,
            modality=modality or "",
            file_name=file_name or "",
        )
    )
    if table is None:
        return own
    listed = ", ".join(table)
    if len(table) == 1:
        if own.phase in (None, table[0]):
            extra = f" ({own.reason})" if own.phase else ""
            return PhaseChoice(table[0], f"exams table lists only {table[0]}{extra}", "exams table")
        return PhaseChoice(
            table[0],
            f"exams table lists only {table[0]}; it overrules the images' {own.phase} ({own.reason})",
            "exams table",
        )
    if own.phase in table:
        return PhaseChoice(own.phase, f"{own.reason}; {own.phase} is listed in the exams table ({listed})", own.source)
    against = f" and overrules the images' {own.phase} ({own.reason})" if own.phase else f" ({own.reason})"
    return PhaseChoice(None, f"exams table lists {listed}: this series alone cannot tell which{against}", "exams table")


def identify_study_phases(
    evidence: Sequence[PhaseEvidence], *, exams_phases: Sequence[str] | None = None
) -> tuple[PhaseChoice, ...]:
    """Phases of all series of one study, using their acquisition order for the undecided ones.

    Each series is first judged on its own evidence. With an exams table, a series whose own phase
    is listed keeps it, one whose own phase is not listed is left out (phase None, the reason says
    so), and the listed phases left over go to the undecided series — the only one, or several in
    acquisition order (pre-contrast, arterial, portal-venous, delayed, hepatobiliary) when their
    numbers match. A study of a single series gets ``identify_phase``'s answer (a single listed
    phase overrules the images). Without a table, undecided series that received contrast take the
    contrast phases not yet taken (arterial, portal-venous, delayed) in acquisition order.

    Parameters
    ----------
    evidence : sequence of PhaseEvidence
        One per series.
    exams_phases : sequence of str or None
        As in ``identify_phase``.

    Returns
    -------
    tuple of PhaseChoice
        In the order of ``evidence``.
    """
    table = _check_exams_phases(exams_phases)
    if table is not None and len(evidence) == 1:
        return (identify_phase(**_keywords(evidence[0]), exams_phases=table),)
    own = [_own_evidence(e) for e in evidence]
    choices = list(own)
    if table is not None:
        listed = ", ".join(table)
        for i, o in enumerate(own):
            if o.phase in table:
                reason = f"{o.reason}; {o.phase} is listed in the exams table ({listed})"
                choices[i] = PhaseChoice(o.phase, reason, o.source)
            elif o.phase is not None:
                reason = f"{o.reason}, but the exams table lists only {listed}: not used"
                choices[i] = PhaseChoice(None, reason, "exams table")
        undecided = [i for i, o in enumerate(own) if o.phase is None]
        taken = {c.phase for c in choices if c.phase}
        candidates = [p for p in PHASES if p in table and p not in taken]
        if len(undecided) == 1 and len(candidates) == 1:
            i = undecided[0]
            reason = f"exams table lists {listed}; {own[i].reason}; the only undecided series, so {candidates[0]}"
            choices[i] = PhaseChoice(candidates[0], reason, "exams table")
            return tuple(choices)
        if len(candidates) != len(undecided):
            return tuple(choices)
    else:
        undecided = [i for i, o in enumerate(own) if o.phase is None and
                     (evidence[i].contrast_agent is None or evidence[i].contrast_agent.strip())]
        taken = {c.phase for c in choices if c.phase}
        candidates = [p for p in CONTRAST_PHASES if p not in taken]
        if len(candidates) < len(undecided):
            return tuple(choices)
    times = {i: seconds_of_day(evidence[i].acquisition_time) for i in undecided}
    if not undecided or any(t is None for t in times.values()) or len(set(times.values())) < len(undecided):
        return tuple(choices)
    ordered = sorted(undecided, key=lambda i: times[i])  # type: ignore[arg-type, return-value]
    for rank, (i, phase) in enumerate(zip(ordered, candidates), start=1):
        where = f"exams table lists {', '.join(table)}; " if table is not None else ""
        reason = (
            f"{where}{own[i].reason}; acquired {rank}. of {len(ordered)} undecided series "
            f"(AcquisitionTime {evidence[i].acquisition_time}), so {phase} by acquisition order"
        )
        choices[i] = PhaseChoice(phase, reason, "exams table" if table is not None else "dicom tags")
    return tuple(choices)


def _keywords(evidence: PhaseEvidence) -> dict:
    return {
        "series_description": evidence.series_description,
        "contrast_agent": evidence.contrast_agent,
        "acquisition_time": evidence.acquisition_time,
        "contrast_start_time": evidence.contrast_start_time,
        "modality": evidence.modality,
        "file_name": evidence.file_name,
    }
