"""Feature-spec comparison for model bundles: :func:`check_feature_specs` and its prose helpers.

Compares the features a user supplies with the ones a bundle was trained on, and says how to
re-extract them when they differ. Re-exported from :mod:`hccfusion.io.bundle`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from hccfusion.errors import DataError, UsageError

__all__ = ["check_feature_specs"]


def _short(value: Any) -> str:
    if isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{16,}", value):
        return f"{value[:12]}…"
    if isinstance(value, list) and len(value) > 6:
        return f"[{', '.join(map(repr, value[:6]))}, … ({len(value)} in all)]"
    return repr(value)


def _same(key: str, a: Any, b: Any) -> bool:
    if key.endswith("sha256") and isinstance(a, str) and isinstance(b, str):
        return a.strip().lower() == b.strip().lower()
    if (isinstance(a, (int, float)) and isinstance(b, (int, float))
            and not isinstance(a, bool) and not isinstance(b, bool)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return a == b


def _describe(modality: str, spec: Mapping[str, Any]) -> str:
    """A spec in prose: "encoder 'hcc_stats' (spec mpp0.50-px224, weights sha256 ab12…)"."""
    head = ""
    if "encoder" in spec:
        head = f"encoder {spec['encoder']!r}"
    elif "param_set" in spec:
        head = f"parameter set {spec['param_set']!r}"
    details = []
    for key, value in spec.items():
        if key in ("encoder", "param_set"):
            continue
        if key == "columns" and isinstance(value, list):
            details.append(f"{len(value)} named columns")
            continue
        label = key.replace("_sha256", " sha256").replace("_", " ")
        details.append(f"{label} {_short(value) if key != 'spec' else value}")
    if head and details:
        return f"{head} ({', '.join(details)})"
    return head or ", ".join(details) or "no recorded settings"


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _weight_free(encoder: str) -> bool:
    """A registered tile encoder without weights (its ``weights_sha256`` fingerprints its
    feature definitions instead of a checkpoint)."""
    from hccfusion.pathology.encoders import TILE_ENCODERS

    entry = TILE_ENCODERS.get(encoder)
    return entry is not None and not entry.spec.needs_weights


def _reextract_hint(modality: str, spec: Mapping[str, Any]) -> str:
    if modality == "pathology" and "encoder" in spec:
        flags = [f"--encoder {spec['encoder']}"]
        match = re.fullmatch(r"mpp(\d+(?:\.\d+)?)-px(\d+)(?:-ov\d+)?(?:-(\w+))?",
                             str(spec.get("spec", "")))
        if match:
            flags += [f"--target-mpp {match.group(1)}", f"--tile-px {match.group(2)}"]
            if match.group(3):
                flags.append(f"--stain-norm {match.group(3)}")
        built_in = _weight_free(str(spec["encoder"]))
        if spec.get("weights_sha256") and not built_in:
            flags.append(f"--weights <the checkpoint with sha256 {_short(spec['weights_sha256'])}>")
        hint = f"re-extract with 'hccfusion features pathology {' '.join(flags)}'"
        if built_in and spec.get("weights_sha256"):
            hint += (f" using an hccfusion whose '{spec['encoder']}' definitions have sha256 "
                     f"{_short(spec['weights_sha256'])} (the bundle's)")
        return hint
    if modality == "radiomics" and "param_set" in spec:
        return ("re-extract with 'hccfusion features imaging "
                f"--radiomics {spec['param_set']}'")
    if "columns" in spec:
        return (f"add the missing columns to the {modality} table (NaN where a value is "
                "unknown: the bundle's fitted preprocessor imputes it)")
    return f"rebuild the {modality} features the way the training features were made"


def check_feature_specs(expected: Mapping[str, Mapping[str, Any]],
                        given: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Check that the features given match the ones the bundle was trained on.

    For every modality the bundle expects and ``given`` has, every field of the expected spec
    (``encoder``, ``spec``, ``weights_sha256``, ``dim``, ``param_set``, ``columns_sha256``,
    ``n_columns`` …; a None value is not checked) must be present in the given spec with an
    equal value (sha256 case-insensitively, numbers to 1e-9 relative). ``columns`` lists are
    compared as sets: columns the bundle expects must all be given; extra columns are noted.

    Parameters
    ----------
    expected
        The bundle's ``feature_specs`` (modality → spec).
    given
        The same description of the features to predict from.

    Returns
    -------
    list[str]
        Notes that do not stop prediction: modalities the bundle expects but that were not given
        (treated as missing for every patient), modalities given but unused, extra columns.

    Raises
    ------
    DataError
        A spec differs; the message names every modality and field that differs, what the
        bundle expects, what was given, and how to re-extract.
    UsageError
        ``expected`` or ``given`` is not a dict of dicts.
    """
    for name, value in (("expected", expected), ("given", given)):
        if not isinstance(value, Mapping) or not all(isinstance(v, Mapping)
                                                     for v in value.values()):
            raise UsageError(f"The '{name}' parameter of check_feature_specs must be a dict of "
                             f"modality → spec dict. Got {value!r} instead.")
    notes: list[str] = []
    problems: list[str] = []
    for modality, want in expected.items():
        if modality not in given:
            notes.append(f"the bundle expects {modality} features but none were given; "
                         f"{modality} is treated as missing for every patient.")
            continue
        have = given[modality]
        differing: list[str] = []
        for key, value in want.items():
            if value is None:
                continue
            if key == "columns" and isinstance(value, list):
                got = have.get(key)
                if not isinstance(got, list):
                    differing.append(f"{key} (the features given record no column list)")
                    continue
                absent = [c for c in value if c not in set(got)]
                surplus = [c for c in got if c not in set(value)]
                if absent:
                    differing.append(f"{key}: the features given lack {len(absent)} column(s) "
                                     f"the bundle expects: {_short(absent).strip('[]')}")
                if surplus:
                    notes.append(f"{modality}: {len(surplus)} column(s) given are not used by the "
                                 f"bundle and are ignored: {_short(surplus).strip('[]')}.")
                continue
            if key not in have:
                differing.append(f"{key} (the features given do not record it; the bundle "
                                 f"expects {_short(value)})")
            elif not _same(key, value, have[key]):
                differing.append(f"{key}: expected {_short(value)}, given {_short(have[key])}")
        if differing:
            made = ("from", "were made with") if ("encoder" in want or "param_set" in want) \
                else ("with", "have")
            problems.append(
                f"the bundle expects {modality} features {made[0]} {_describe(modality, want)}; "
                f"the features given {made[1]} {_describe(modality, have)} — differing: "
                f"{'; '.join(differing)}. {_upper_first(_reextract_hint(modality, want))}.")
    for modality in given:
        if modality not in expected:
            notes.append(f"{modality} features were given but the bundle does not use "
                         f"{modality}; they are ignored.")
    if problems:
        raise DataError(" ".join(_upper_first(p) for p in problems))
    return notes
