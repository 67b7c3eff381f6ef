"""The error injector against the lead's validator: clean → no errors, messy → no errors,
injected → exactly the expected findings."""

from __future__ import annotations

import datetime as dt
import pandas as pd
import pytest

from hccfusion.errors import DataError
from hccfusion.simulate.crf_tables import as_written, split_by_center
from hccfusion.simulate.errors_inject import INJECTED_ERRORS, add_messiness, inject_errors

validate = pytest.importorskip("hccfusion.io.crf.validate")
rules = pytest.importorskip("hccfusion.io.crf.rules")
template = pytest.importorskip("hccfusion.io.crf.template")
TODAY = dt.date(2026, 7, 1)


@pytest.fixture(scope="module")
def wx(tables_small):
    return {k: as_written(k, v) for k, v in split_by_center(tables_small)["WX"].items()}


def _errors(tables, tmp_path, name):
    path = template.write_workbook(tables, tmp_path / f"{name}.xlsx")
    return validate.validate_crf(path, today=TODAY).errors


def test_every_injected_rule_is_a_validator_rule():
    for kind, (_, sheet, column, rule) in INJECTED_ERRORS.items():
        assert rules.RULE_NAMES[rule].value == "error", kind


def test_clean_and_messy_workbooks_have_no_errors(wx, tmp_path):
    assert _errors(wx, tmp_path, "clean") == ()
    messy = add_messiness(wx, seed=4, share=0.3)
    p = messy["patients"]
    assert p["sex"].isin(["男", "女"]).any() and p["cirrhosis"].isin(["是", "否"]).any()
    assert messy["labs"]["date"].map(lambda v: isinstance(v, int)).any()
    assert messy["labs"]["value"].map(lambda v: isinstance(v, str) and v[:1] in "<>").any()
    assert _errors(messy, tmp_path, "messy") == ()


def test_injected_errors_are_found_exactly(wx, tmp_path):
    messy = add_messiness(wx, seed=4)
    injected = inject_errors(messy, seed=9)
    assert len(injected.expected) == len(INJECTED_ERRORS)
    assert len({e.patient_id for e in injected.expected}) == len(INJECTED_ERRORS)
    found = {(i.sheet, i.row, i.column, i.rule) for i in _errors(injected.tables, tmp_path, "bad")}
    expected = {(e.sheet, e.row, e.column, e.rule) for e in injected.expected}
    assert found == expected
    for e, (_, sheet, column, rule) in zip(injected.expected, INJECTED_ERRORS.values()):
        assert (e.sheet, e.column, e.rule) == (sheet, column, rule)


def test_injection_leaves_the_input_untouched(wx):
    before = {k: v.copy() for k, v in wx.items()}
    inject_errors(wx, seed=1)
    for k in wx:
        pd.testing.assert_frame_equal(wx[k], before[k])


def test_too_small_workbook_raises_or_skips(wx):
    tiny = {k: v[v["patient_id"] == "WX-0001"].reset_index(drop=True) for k, v in wx.items()}
    with pytest.raises(DataError, match="cannot inject"):
        inject_errors(tiny, seed=0)
    lenient = inject_errors(tiny, seed=0, strict=False)
    assert len(lenient.expected) == 1 and len(lenient.skipped) == len(INJECTED_ERRORS) - 1
