"""``hccfusion features pathology`` end to end on a tiny simulated cohort (specimens CSV)."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from hccfusion.errors import UsageError
from tests.pipeline.test_features_pathology import BAD_KINDS, GOOD, write_tiny_cohort


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    specimens = write_tiny_cohort(folder, good=GOOD[2:])
    specimens.to_csv(folder / "specimens.csv", index=False)
    bad = specimens[specimens["slide_id"].isin(list(BAD_KINDS))]
    bad.to_csv(folder / "bad.csv", index=False)
    return folder


def _args(study, out, table="specimens.csv", *extra):
    return ["pathology", "--cohort", str(study / table), "--encoder", "hcc_stats",
            "--out", str(out), "--data-root", str(study), "--workers", "0", "--device", "cpu",
            "--quiet", *extra]


def test_extracts_bags_prints_the_failure_table_and_exits_0(study, tmp_path):
    from hccfusion.cli.features import app

    res = CliRunner().invoke(app, _args(study, tmp_path / "features"))
    assert res.exit_code == 0, res.output
    assert "6 slides: 1 extracted, 0 already done, 5 failed" in res.output
    assert "failed slides" in res.output
    for slide_id, kind in BAD_KINDS.items():
        assert slide_id in res.output and kind in res.output
    store = tmp_path / "features" / "pathology" / "hcc_stats" / "mpp0.50-px224"
    assert sorted(p.stem for p in store.glob("*.h5")) == [GOOD[2][1]]
    assert (store / "manifest.parquet").is_file() and (store / "qc.parquet").is_file()

    again = CliRunner().invoke(app, _args(study, tmp_path / "features"))
    assert again.exit_code == 0 and "0 extracted, 1 already done, 5 failed" in again.output


def test_slide_workers_and_slide_backend_options(study, tmp_path):
    pytest.importorskip("tiffslide")
    from hccfusion.cli.features import app
    from hccfusion.io.feature_store import read_bag

    res = CliRunner().invoke(app, _args(study, tmp_path / "a", "specimens.csv",
                                        "--slide-workers", "2", "--slide-backend", "tiffslide"))
    assert res.exit_code == 0, res.output
    assert "6 slides: 1 extracted, 0 already done, 5 failed" in res.output
    one = CliRunner().invoke(app, _args(study, tmp_path / "b"))
    assert one.exit_code == 0, one.output
    store = ("pathology", "hcc_stats", "mpp0.50-px224", f"{GOOD[2][1]}.h5")
    bags = [read_bag(tmp_path.joinpath(d, *store)) for d in ("a", "b")]
    assert bags[0].features.tobytes() == bags[1].features.tobytes()


def test_bad_slide_workers_and_slide_backend_are_usage_errors(study, tmp_path):
    from hccfusion.cli.features import app

    res = CliRunner().invoke(app, _args(study, tmp_path, "specimens.csv", "--slide-workers", "0"))
    assert isinstance(res.exception, UsageError) and "'slide_workers'" in str(res.exception)
    res = CliRunner().invoke(app, _args(study, tmp_path, "specimens.csv",
                                        "--slide-backend", "openslid"))
    assert isinstance(res.exception, UsageError)
    assert "did you mean 'openslide'" in str(res.exception)


def test_exits_1_when_every_slide_failed(study, tmp_path):
    from hccfusion.cli.features import app

    res = CliRunner().invoke(app, _args(study, tmp_path, "bad.csv"))
    assert res.exit_code == 1
    assert "0 extracted, 0 already done, 5 failed" in res.output


def test_an_unknown_encoder_is_a_usage_error_with_exit_2(study, tmp_path, monkeypatch, capsys):
    from hccfusion.cli.main import main

    args = _args(study, tmp_path)
    args[args.index("hcc_stats")] = "hcc_stat"
    monkeypatch.setattr(sys, "argv", ["hccfusion", "features", *args])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown" in err and "hcc_stats" in err and "Traceback" not in err


def test_a_missing_cohort_is_a_usage_error(tmp_path):
    from hccfusion.cli.features import app

    res = CliRunner().invoke(app, ["pathology", "--cohort", str(tmp_path / "none.csv"),
                                   "--encoder", "hcc_stats", "--out", str(tmp_path)])
    assert isinstance(res.exception, UsageError)
    assert "specimens .csv/.parquet" in str(res.exception)


def test_the_group_is_registered_in_the_main_command():
    from hccfusion.cli.main import SUBCOMMANDS

    assert ("features", "hccfusion.cli.features") in SUBCOMMANDS
