import pandas as pd
import pytest

from hccfusion.clinical.scores_baseline import baseline_scores
from hccfusion.io.index_date import index_dates
from hccfusion.io.schema import coerce_table


def _tables():
    pats = pd.DataFrame([
        dict(patient_id="P1", center="WX", cohort="retrospective", ecog=0, ascites="none",
             encephalopathy="none", bclc="B", tumour_number=3, largest_diameter_mm=80.0,
             pvtt="Vp0", extrahepatic_spread=False),
        dict(patient_id="P2", center="WX", cohort="retrospective", ecog=1, ascites="none",
             encephalopathy="none", bclc="C", tumour_number=10, tumour_number_censor=">",
             largest_diameter_mm=30.0, pvtt="Vp3", extrahepatic_spread=False)])
    labs = []
    for pid, vals in (("P1", dict(bilirubin=15, albumin=34, inr=1.1, afp=800, crp=12,
                                  neutrophils=4.2, lymphocytes=1.4, platelets=210)),
                      ("P2", dict(bilirubin=20, albumin=35, inr=1.2, afp=50, crp=3,
                                  neutrophils=2, lymphocytes=2, platelets=100))):
        labs += [dict(patient_id=pid, date="2023-02-27", test=t, value=v) for t, v in vals.items()]
    # an older and a post-T0 value that must not be the baseline
    labs += [dict(patient_id="P1", date="2023-02-01", test="albumin", value=50),
             dict(patient_id="P1", date="2023-03-05", test="albumin", value=20)]
    tr = pd.DataFrame([dict(patient_id=p, kind="TACE", agent="cTACE", start_date="2023-03-01")
                       for p in ("P1", "P2")])
    return {"patients": coerce_table("patients", pats), "labs": coerce_table("labs", pd.DataFrame(labs)),
            "treatments": coerce_table("treatments", tr)}


def test_baseline_scores_one_row_per_patient():
    t = _tables()
    out = baseline_scores(t, index_dates=index_dates(t["treatments"])).set_index("patient_id")
    p1, p2 = out.loc["P1"], out.loc["P2"]
    assert p1["albumin_g_l"] == 34                      # last within 14 days, not post-T0
    assert (p1["hap_points"], p1["hap"]) == (3, "D")    # domain.md §3.5 example
    assert p1["d_plus_n"] == 11 and p1["up_to_7"] == "beyond"
    assert p1["tbs"] == pytest.approx(8.544, abs=5e-4)
    assert p1["nlr"] == pytest.approx(3.0) and p1["crafity"] == "high"
    assert p1["child_pugh_class"] == "A" and p1["bclc_2022"] == "B" and p1["cnlc"] == "IIa"
    assert bool(p2["n_censored"]) and p2["six_and_twelve"] == "high"
    assert p2["bclc_2022"] == "C" and p2["cnlc"] == "IIIa"
    assert p2["state"] == pytest.approx(35 - 12)
    assert len(out) == 2
