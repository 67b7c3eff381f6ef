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


def _every_pattern(text: str, identifiers: list[str], replacements: dict[str, str]) -> str:
    """The scrub as it was before the substring lookup: every value's pattern on the text."""
    import re

    from hccfusion.deid import scrub

    out = text
    for value in sorted({v.strip() for v in identifiers}, key=len, reverse=True):
        if len(value) >= 2:
            chars = [re.escape(c) for c in value if not c.isspace() and c != "-"]
            out = re.compile(r"[\s-]*".join(chars), re.IGNORECASE).sub("[REDACTED]", out)
    pending: list[str] = []
    for original, new in sorted(replacements.items(), key=lambda kv: -len(kv[0])):
        pattern = rf"(?<![A-Za-z0-9]){re.escape(original)}(?![A-Za-z0-9])"
        if original and re.search(pattern, out):
            out = re.sub(pattern, f"\x00{len(pending)}\x00", out)
            pending.append(new)
    for regex, tag in ((scrub._RECORD, "[RECORD]"), (scrub._NATIONAL_ID, "[ID]"),
                       (scrub._PHONE, "[PHONE]"), (scrub._DATES, "[DATE]"),
                       (scrub._DIGIT_RUN, "[NUMBER]")):
        out = regex.sub(tag, out)
    return re.sub("\x00(\\d+)\x00", lambda m: pending[int(m.group(1))], out)


def test_indexed_scrub_finds_exactly_what_every_pattern_finds():
    # Mixed case, CJK, spaces and dashes typed between characters, the characters that
    # re.IGNORECASE pairs beyond str.lower() (Kelvin sign, long s, dotless i, sharp s, micro),
    # identifiers that overlap or hide in one another, and IDs inside longer tokens.
    import random

    rng = random.Random(7)
    alphabet = "abkSIiWX王秀英张伟 -0123\u212a\u017f\u0131\u0130\u00df\u00b5\u03bc"
    simple = "abkSIiWX王秀英张伟 -0123"
    twins = {"k": "\u212a", "s": "\u017f", "S": "\u017f", "I": "\u0131", "i": "\u0131"}
    for _ in range(600):
        # half the texts are plain ASCII and CJK, and their identifiers may be written with
        # the look-alike characters that still match them under re.IGNORECASE
        letters = simple if rng.random() < 0.5 else alphabet
        text = "".join(rng.choice(letters) for _ in range(rng.randint(0, 30)))
        ids = []
        for _ in range(rng.randint(1, 6)):
            if text and rng.random() < 0.7:
                i = rng.randrange(len(text))
                piece = text[i:i + rng.randint(2, 6)]
                piece = "".join(c.swapcase() if rng.random() < 0.3 else c for c in piece)
                piece = "".join(twins.get(c, c) if rng.random() < 0.3 else c for c in piece)
                ids.append(piece.replace(" ", "") if rng.random() < 0.5 else piece)
            else:
                ids.append("".join(rng.choice(alphabet) for _ in range(rng.randint(2, 5))))
        originals = [f"WX-{rng.randint(0, 12):04d}" for _ in range(rng.randint(0, 4))]
        text += " " + " ".join(rng.choice(originals + ["WX-00011", "xWX-0003"])
                               for _ in range(rng.randint(0, 3)))
        replacements = {o: f"P-{k:016x}" for k, o in enumerate(originals)}
        assert scrub_text(text, identifiers=ids, replacements=replacements) == _every_pattern(
            text, ids, replacements), (text, ids, replacements)


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
