import stat
import sys
from types import SimpleNamespace

from typer.testing import CliRunner

from hccfusion.cli.deid import app
from hccfusion.errors import UsageError
from tests.deid.conftest import _tables


def test_keygen_writes_a_private_key_and_refuses_to_overwrite(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["keygen", str(tmp_path / "k.key")])
    assert res.exit_code == 0, res.output
    assert "fingerprint" in res.output
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600
    again = runner.invoke(app, ["keygen", str(tmp_path / "k.key")])
    assert isinstance(again.exception, UsageError)


def test_export_prints_the_k_anonymity_summary(tmp_path, monkeypatch):
    db = tmp_path / "study.duckdb"
    db.write_bytes(b"")
    fake = SimpleNamespace(read_tables=lambda path: _tables())
    monkeypatch.setitem(sys.modules, "hccfusion.io.database", fake)
    runner = CliRunner()
    assert runner.invoke(app, ["keygen", str(tmp_path / "k.key")]).exit_code == 0
    res = runner.invoke(app, ["export", "--db", str(db), "--key", str(tmp_path / "k.key"),
                              "--out", str(tmp_path / "ipd"), "--k", "2"])
    assert res.exit_code == 0, res.output
    assert "min k = 1" in res.output and "3 of 3 patients in 3 classes with k < 2" in res.output
    assert (tmp_path / "ipd" / "manifest.json").is_file()
    assert "张伟" not in res.output


def test_export_with_a_missing_key_or_db_is_a_usage_error(tmp_path):
    res = CliRunner().invoke(app, ["export", "--db", str(tmp_path / "none.duckdb"), "--key",
                                   str(tmp_path / "k.key"), "--out", str(tmp_path / "ipd")])
    assert isinstance(res.exception, UsageError) and "not found" in str(res.exception)
