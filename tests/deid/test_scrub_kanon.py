import pandas as pd
import pytest

from hccfusion.deid.kanon import age_band, k_anonymity
from hccfusion.deid.scrub import scrub_text
from hccfusion.errors import DataError


@pytest.mark.parametrize("text,expected", [
    ("电话13812345678", "电话[PHONE]"),
    ("call +86 138-1234-5678 now", "call [PHONE] now"),
    ("座机0510-82345678", "座机[PHONE]"),
    ("身份证32010219800101123X。", "身份证[ID]。"),
    ("住院号：ZY2023-0145", "[RECORD]"),
    ("MRN 884512", "[RECORD]"),
    ("2023年3月1日入院", "[DATE]入院"),
    ("复查 2023/3/15 和 2023.04.01", "复查 [DATE] 和 [DATE]"),
    ("seen 03/15/2023", "seen [DATE]"),
    ("3月2日缓解", "[DATE]缓解"),
    ("AFP 1200 ng/mL, 2 lesions", "AFP 1200 ng/mL, 2 lesions"),  # clinical numbers stay
    ("barcode 20230301", "barcode [NUMBER]"),
])
def test_patterns(text, expected):
    assert scrub_text(text) == expected


def test_known_identifiers_are_removed_also_when_spaced():
    out = scrub_text("王 秀 英 and 王秀英, tel 139 8765 4321",
                     identifiers=["王秀英", "13987654321", "x"])
    assert out == "[REDACTED] and [REDACTED], tel [REDACTED]"


def test_replacements_are_whole_tokens_and_survive_the_patterns():
    out = scrub_text("WX-0001 vs WX-00011", replacements={"WX-0001": "P-1234567890abcdef"})
    assert out == "P-1234567890abcdef vs WX-00011"


def test_missing_text_passes_through():
    assert scrub_text(None) is None


def test_age_band():
    assert age_band([18, 59, 60, 89, 90, None]).tolist() == [
        "10-19", "50-59", "60-69", "80-89", "90+", pd.NA]


def test_k_anonymity_on_a_hand_made_table():
    df = pd.DataFrame({
        "age_band": ["50-59"] * 5 + ["60-69"] * 2 + ["70-79"] + [None],
        "sex": ["M"] * 5 + ["F", "F"] + ["M"] + ["M"],
        "center": ["WX"] * 5 + ["NJ", "NJ"] + ["WX"] + ["WX"],
    })
    rep = k_anonymity(df, quasi_identifiers=("age_band", "sex", "center"), k_threshold=3)
    assert rep.n_records == 9 and rep.n_classes == 4 and rep.min_k == 1
    assert rep.n_classes_below == 3 and rep.n_records_below == 4
    assert rep.classes["n"].tolist() == [1, 1, 2, 5]
    assert "missing" in set(rep.classes["age_band"])
    assert not rep.satisfied
    assert k_anonymity(df.iloc[:5], quasi_identifiers=("sex",), k_threshold=5).satisfied


def test_k_anonymity_errors():
    with pytest.raises(DataError, match="not columns"):
        k_anonymity(pd.DataFrame({"a": [1]}), quasi_identifiers=("b",))
    with pytest.raises(DataError, match="k_threshold"):
        k_anonymity(pd.DataFrame({"a": [1]}), quasi_identifiers=("a",), k_threshold=0)
