import datetime as dt
from types import SimpleNamespace

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from hccfusion.cli.eligibility import eligibility
from hccfusion.errors import UsageError
from tests.clinical.conftest import good_patient, tables_from


@pytest.fixture
def cli_app(monkeypatch):
    from hccfusion.io import cohort as cohort_module

    p1, p2 = good_patient("WX-0001"), good_patient("NJ-0001", center="NJ")
    p2["patients"][0]["age_years"] = 85
    fake = SimpleNamespace(tables=tables_from(p1, p2), cutoff=dt.date(2024, 6, 30))
    seen = []
    monkeypatch.setattr(cohort_module.Cohort, "load",
                        classmethod(lambda cls, path: seen.append(path) or fake))
    app = typer.Typer()
    app.command()(eligibility)
    return app, seen


def test_writes_every_output_and_prints_the_flow(cli_app, tmp_path):
    app, seen = cli_app
    res = CliRunner().invoke(app, ["--cohort", str(tmp_path / "snap"), "--out",
                                   str(tmp_path / "elig")])
    assert res.exit_code == 0, res.output
    assert seen == [tmp_path / "snap"]
    for name in ("eligibility.parquet", "eligibility.csv", "consort.csv", "consort.png",
                 "consort.svg", "eligibility_settings.json"):
        assert (tmp_path / "elig" / name).stat().st_size > 0
    pp = pd.read_parquet(tmp_path / "elig" / "eligibility.parquet").set_index("patient_id")
    assert bool(pp.loc["WX-0001", "eligible"]) and not bool(pp.loc["NJ-0001", "eligible"])
    flow = pd.read_csv(tmp_path / "elig" / "consort.csv")
    assert int(flow.query("center == 'all' and stage == 'included'")["n"].iloc[0]) == 1
    assert "Age outside 18–80" in res.output and "warning" not in res.output


def test_survived_rule_prints_the_landmark_warning(cli_app, tmp_path):
    app, _ = cli_app
    res = CliRunner().invoke(app, ["--cohort", "x", "--out", str(tmp_path / "e"),
                                   "--followup-rule", "survived"])
    assert res.exit_code == 0, res.output
    assert "warning" in res.output and "landmark" in res.output


def test_unknown_followup_rule_is_a_usage_error(cli_app, tmp_path):
    app, _ = cli_app
    res = CliRunner().invoke(app, ["--cohort", "x", "--out", str(tmp_path / "e"),
                                   "--followup-rule", "survive"])
    assert isinstance(res.exception, UsageError)
    assert "did you mean 'survived'" in str(res.exception)
