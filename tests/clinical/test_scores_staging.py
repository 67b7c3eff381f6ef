import pandas as pd
import pytest

from hccfusion.clinical.scores_staging import (
    bclc_2022, bclc_inconsistencies, cnlc, macrovascular_invasion)


def stage(fn, ecog=0, cp="A", n=1, d=2.0, mvi=False, ehs=False):
    return fn(ecog=[ecog], child_pugh_class=[cp], tumour_number=[n], largest_diameter_cm=[d],
              macrovascular_invasion=[mvi], extrahepatic_spread=[ehs]).iloc[0, 0]


@pytest.mark.parametrize("kw,expected", [
    (dict(cp="C"), "D"), (dict(ecog=3), "D"), (dict(ecog=4, cp=None), "D"),
    (dict(mvi=True), "C"), (dict(ehs=True), "C"), (dict(ecog=1), "C"), (dict(ecog=2), "C"),
    (dict(n=1, d=2.0), "0"), (dict(n=1, d=2.1), "A"), (dict(n=1, d=2.0, cp="B"), "A"),
    (dict(n=1, d=12), "A"), (dict(n=3, d=3.0), "A"), (dict(n=3, d=3.1), "B"),
    (dict(n=4, d=2.0), "B"), (dict(cp="C", mvi=True), "D"), (dict(n=5, d=2, ecog=1), "C")])
def test_bclc_2022_order_and_cutoffs(kw, expected):
    assert stage(bclc_2022, **kw) == expected


def test_bclc_undecidable_is_na():
    assert pd.isna(stage(bclc_2022, ecog=0, cp=None))   # could be C-class D
    assert pd.isna(stage(bclc_2022, ecog=None))


@pytest.mark.parametrize("kw,expected", [
    (dict(ecog=3), "IV"), (dict(cp="C"), "IV"), (dict(ehs=True, mvi=True), "IIIb"),
    (dict(mvi=True), "IIIa"), (dict(n=4, d=1), "IIb"), (dict(n=2, d=3.1), "IIa"),
    (dict(n=3, d=3.0), "Ib"), (dict(n=1, d=5.1), "Ib"), (dict(n=1, d=5.0), "Ia"),
    (dict(n=1, d=5.0, ecog=2, cp="B"), "Ia")])
def test_cnlc_order_and_cutoffs(kw, expected):
    assert stage(cnlc, **kw) == expected


def test_macrovascular_invasion():
    out = macrovascular_invasion(pvtt=["Vp0", "Vp1", "Vp0", None], hvtt=[False, False, True, False])
    assert out.tolist()[:3] == [False, True, True] and pd.isna(out[3])


def test_bclc_record_with_ecog_1_is_flagged():
    out = bclc_inconsistencies(recorded_bclc=["B", "C", "A", "0"], ecog=[1, 1, 0, 2])
    assert out.tolist() == [True, False, False, True]
