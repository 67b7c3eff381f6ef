import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hccfusion.deid.pseudonym import DeidKey, date_offset_days, generate_key, load_key, pseudonym
from hccfusion.errors import UsageError

KEY = DeidKey(bytes(range(32)))
OTHER = DeidKey(bytes(range(1, 33)))


def test_generate_key_writes_32_private_bytes_and_refuses_to_overwrite(tmp_path):
    path = generate_key(tmp_path / "study.key")
    assert len(path.read_bytes()) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    with pytest.raises(UsageError, match="refusing to overwrite"):
        generate_key(path)
    assert path.read_bytes() == before
    assert load_key(path).secret == before
    assert generate_key(tmp_path / "second.key").read_bytes() != before


def test_load_key_errors(tmp_path):
    with pytest.raises(UsageError, match="not found; create one with `hccfusion deid keygen"):
        load_key(tmp_path / "missing.key")
    short = tmp_path / "short.key"
    short.write_bytes(b"abc")
    os.chmod(short, 0o600)
    with pytest.raises(UsageError, match="holds 3 bytes; expected 32"):
        load_key(short)
    open_key = tmp_path / "open.key"
    open_key.write_bytes(bytes(32))
    os.chmod(open_key, 0o644)
    with pytest.raises(UsageError, match="chmod 600"):
        load_key(open_key)


def test_key_repr_never_shows_the_secret():
    assert KEY.secret.hex() not in repr(KEY) and "fingerprint" in repr(KEY)
    with pytest.raises(UsageError, match="32 bytes"):
        DeidKey(b"short")


def test_pseudonyms_are_keyed_deterministic_and_namespaced():
    a = pseudonym(KEY, "WX-0001", namespace="patient_id")
    assert a == pseudonym(KEY, "WX-0001", namespace="patient_id")
    assert a.startswith("P-") and len(a) == 18
    assert a != pseudonym(OTHER, "WX-0001", namespace="patient_id")
    assert a[2:] != pseudonym(KEY, "WX-0001", namespace="exam_id")[2:]
    assert a != pseudonym(KEY, "WX-0002", namespace="patient_id")


def test_pseudonym_matches_an_independent_hmac():
    import hashlib
    import hmac

    expected = hmac.new(bytes(range(32)), "pseudonym\x1fslide_id\x1fS-9".encode(),
                        hashlib.sha256).hexdigest()[:16]
    assert pseudonym(KEY, "S-9", namespace="slide_id") == f"W-{expected}"


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=20))
def test_date_offset_is_non_zero_bounded_and_deterministic(pid):
    d = date_offset_days(KEY, pid)
    assert d != 0 and -365 <= d <= 365
    assert d == date_offset_days(KEY, pid)


def test_date_offsets_spread_over_both_signs():
    offsets = {date_offset_days(KEY, f"WX-{i:04d}") for i in range(200)}
    assert min(offsets) < -100 and max(offsets) > 100 and len(offsets) > 150
