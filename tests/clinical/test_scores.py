import numpy as np
import pandas as pd
import pytest

from hccfusion.clinical.scores import (
    albi, albi_grade, albi_tae, art, crafity, hap, inflammation_ratios, state, tumour_burden)
from hccfusion.errors import DataError


@pytest.mark.parametrize("bili,alb,score,grade,mgrade", [
    (10, 45, -3.165, "1", "1"), (17, 40, -2.588, "2", "2a"), (20, 35, -2.116, "2", "2b"),
    (50, 28, -1.259, "3", "3")])
def test_albi_johnson_examples(bili, alb, score, grade, mgrade):
    row = albi(bilirubin_umol_l=[bili], albumin_g_l=[alb]).iloc[0]
    assert row["albi"] == pytest.approx(score, abs=5e-4)
    assert (row["albi_grade"], row["malbi_grade"]) == (grade, mgrade)


@pytest.mark.parametrize("x,grade,mgrade", [(-2.60, "1", "1"), (-2.5999, "2", "2a"),
                                            (-2.27, "2", "2a"), (-2.2699, "2", "2b"),
                                            (-1.39, "2", "2b"), (-1.3899, "3", "3")])
def test_albi_cutoffs(x, grade, mgrade):
    row = albi_grade([x]).iloc[0]
    assert (row["albi_grade"], row["malbi_grade"]) == (grade, mgrade)


def test_albi_missing_and_bad_input():
    assert albi(bilirubin_umol_l=[np.nan], albumin_g_l=[40])["albi_grade"].isna().all()
    with pytest.raises(DataError, match="> 0"):
        albi(bilirubin_umol_l=[0], albumin_g_l=[40])


def test_tumour_burden_domain_example():
    row = tumour_burden(largest_diameter_cm=[8], tumour_number=[3]).iloc[0]
    assert row["d_plus_n"] == 11
    assert row["up_to_7"] == "beyond" and row["up_to_11"] == "within"
    assert row["six_and_twelve"] == "intermediate" and row["seven_eleven"] == "7-11"
    assert row["tbs"] == pytest.approx(8.544, abs=5e-4)


@pytest.mark.parametrize("d,n,up7,up11,six12,s711", [
    (4.2, 2.8, "within", "within", "intermediate", "<=7"),    # 7.000000000000001 → 7
    (4.5, 3, "beyond", "within", "intermediate", "7-11"),
    (3, 3, "within", "within", "low", "<=7"), (3.1, 3, "within", "within", "intermediate", "<=7"),
    (8, 3, "beyond", "within", "intermediate", "7-11"),
    (8.1, 3, "beyond", "beyond", "intermediate", ">11"),
    (9, 3, "beyond", "beyond", "intermediate", ">11"), (9.1, 3, "beyond", "beyond", "high", ">11")])
def test_tumour_burden_cutoffs(d, n, up7, up11, six12, s711):
    row = tumour_burden(largest_diameter_cm=[d], tumour_number=[n]).iloc[0]
    assert (row["up_to_7"], row["up_to_11"], row["six_and_twelve"], row["seven_eleven"]) == (
        up7, up11, six12, s711)


def test_censored_tumour_number_resolves_only_certain_groups():
    out = tumour_burden(largest_diameter_cm=[2, 0.5], tumour_number=[10, 5],
                        tumour_number_censored=[True, True])
    # ">10" → n >= 11: D + n >= 13 → beyond and high for sure
    assert out.loc[0, ["up_to_7", "up_to_11", "six_and_twelve"]].tolist() == [
        "beyond", "beyond", "high"]
    assert out.loc[0, "d_plus_n"] == 13 and bool(out.loc[0, "n_censored"])
    # "> 5" with D 0.5 → D + n >= 6.5: beyond up-to-7 unknown, up-to-11 unknown
    assert out.loc[1, ["up_to_7", "up_to_11", "six_and_twelve"]].isna().all()


def test_hap_domain_example_and_mhap2():
    row = hap(albumin_g_l=[34], afp_ng_ml=[800], bilirubin_umol_l=[15], largest_diameter_cm=[8],
              tumour_number=[1]).iloc[0]
    assert (row["hap_points"], row["hap"]) == (3, "D")
    assert (row["mhap2_points"], row["mhap2"]) == (3, "D")


@pytest.mark.parametrize("alb,afp,bili,d,n,pts,grp,m2", [
    (36, 400, 17, 7, 1, 0, "A", "A"), (35.9, 400, 17, 7, 2, 1, "B", "C"),
    (36, 400.1, 17, 7, 1, 1, "B", "B"), (36, 400, 17.1, 7.1, 1, 2, "C", "C"),
    (30, 500, 20, 10, 3, 4, "D", "D")])
def test_hap_boundaries(alb, afp, bili, d, n, pts, grp, m2):
    row = hap(albumin_g_l=[alb], afp_ng_ml=[afp], bilirubin_umol_l=[bili],
              largest_diameter_cm=[d], tumour_number=[n]).iloc[0]
    assert (row["hap_points"], row["hap"], row["mhap2"]) == (pts, grp, m2)


def test_hap_missing_input_is_na():
    out = hap(albumin_g_l=[np.nan], afp_ng_ml=[1], bilirubin_umol_l=[1], largest_diameter_cm=[1])
    assert out["hap"].isna().all() and out["hap_points"].isna().all()


def test_albi_tae():
    out = albi_tae(bilirubin_umol_l=[10, 17, 17], albumin_g_l=[45, 40, 40], afp_ng_ml=[200, 201, 201],
                   largest_diameter_cm=[8, 8, 8.1], tumour_number=[3, 3, 3])
    assert out["albi_tae_points"].tolist() == [0, 2, 3]
    assert out["albi_tae"].tolist() == ["A", "C", "D"]


def test_state_crp_in_mg_l_and_cutoff():
    out = state(albumin_g_l=[42, 42, 41.9, 30], crp_mg_l=[9.9, 10, 10, 1],
                largest_diameter_cm=[3, 5, 5, 3], tumour_number=[1, 3, 3, 1])
    assert out["state"].tolist() == pytest.approx([42, 18, 17.9, 30])
    assert out["state_group"].tolist() == ["suitable", "suitable", "unsuitable", "suitable"]


@pytest.mark.parametrize("afp,crp,pts,grp", [(99.9, 9.9, 0, "low"), (100, 9.9, 1, "intermediate"),
                                             (99.9, 10, 1, "intermediate"), (100, 10, 2, "high")])
def test_crafity_cutoffs_crp_mg_l(afp, crp, pts, grp):
    row = crafity(afp_ng_ml=[afp], crp_mg_l=[crp]).iloc[0]
    assert (row["crafity_points"], row["crafity"]) == (pts, grp)


def test_crafity_unit_pitfall_crp_1_mg_l_is_not_1_mg_dl():
    # 1 mg/dL = 10 mg/L: a CRP of 1 (mg/L) scores 0, a CRP of 10 mg/L scores 1
    assert crafity(afp_ng_ml=[5, 5], crp_mg_l=[1, 10])["crafity_points"].tolist() == [0, 1]


def test_nlr_plr_domain_example_and_cutoffs():
    out = inflammation_ratios(neutrophils_10e9_l=[4.2, 2.9], lymphocytes_10e9_l=[1.4, 1.0],
                              platelets_10e9_l=[210, 149])
    assert out["nlr"].tolist() == pytest.approx([3.0, 2.9])
    assert out["nlr_group"].tolist() == ["high", "low"]
    assert out["plr_group"].tolist() == ["high", "low"]
    zero = inflammation_ratios(neutrophils_10e9_l=[2], lymphocytes_10e9_l=[0], platelets_10e9_l=[9])
    assert zero["nlr"].isna().all()


def test_art_domain_example():
    row = art(ast_before_u_l=[100], ast_after_u_l=[130], child_pugh_before=[5],
              child_pugh_after=[6], radiologic_response=[False]).iloc[0]
    assert row["art"] == 6.5 and row["art_group"] == "unfavourable"


@pytest.mark.parametrize("after,cp1,resp,score,grp", [
    (125, 5, True, 0.0, "favourable"), (125, 6, True, 1.5, "favourable"),
    (125, 6, False, 2.5, "unfavourable"), (125, 7, True, 3.0, "unfavourable"),
    (126, 5, True, 4.0, "unfavourable"), (100, 5, False, 1.0, "favourable")])
def test_art_boundaries(after, cp1, resp, score, grp):
    row = art(ast_before_u_l=[100], ast_after_u_l=[after], child_pugh_before=[5],
              child_pugh_after=[cp1], radiologic_response=[resp]).iloc[0]
    assert (row["art"], row["art_group"]) == (score, grp)


def test_unequal_lengths_raise():
    with pytest.raises(DataError, match="equal lengths"):
        crafity(afp_ng_ml=[1, 2], crp_mg_l=[1])
