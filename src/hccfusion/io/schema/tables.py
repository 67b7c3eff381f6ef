"""The study's data dictionary: the eight CRF tables, their fields, units and ranges.

Ranges come from domain.md §4. Hard ranges reject values that cannot be true (a typo); the
study's inclusion limits (age 18–80, ECOG ≤ 2, no Child–Pugh C / BCLC D) are soft here, because
screened patients who fail them are recorded too and excluded, with a reason, by the
eligibility rules (:mod:`hccfusion.clinical.eligibility`).
"""

from __future__ import annotations

from types import MappingProxyType

from hccfusion.io.schema.fields import Field, Kind, TableSchema
from hccfusion.io.schema.units import LAB_TESTS

SCHEMA_VERSION = "1.0"

YES_NO = {"yes": "true", "no": "false", "y": "true", "n": "false", "是": "true", "否": "false",
          "有": "true", "无": "false", "true": "true", "false": "false", "1": "true", "0": "false"}


def _f(name: str, kind: Kind, en: str, zh: str, **kw: object) -> Field:
    return Field(name=name, kind=kind, label_en=en, label_zh=zh, **kw)  # type: ignore[arg-type]


PATIENT_ID = _f("patient_id", Kind.STR, "Patient ID (pseudonymous study code)", "研究编号",
                required=True, description="Study code of the patient, e.g. WX-0001. Never a "
                "name or hospital record number.")

_BOOL = Kind.BOOL

PATIENTS = TableSchema(
    name="patients", label_en="Patients", label_zh="患者基线", key=("patient_id",),
    description="One row per screened patient: demographics, liver function, tumour burden, "
                "eligibility facts and identifiers (identifiers never leave the site).",
    fields=(
        PATIENT_ID,
        _f("center", Kind.STR, "Centre", "中心", required=True,
           description="Recruiting hospital (short code)."),
        _f("cohort", Kind.CODE, "Cohort", "队列", required=True,
           codes=("retrospective", "prospective"),
           aliases=MappingProxyType({"回顾性": "retrospective", "前瞻性": "prospective",
                                     "retro": "retrospective", "pro": "prospective"})),
        _f("consent_date", Kind.DATE, "Informed consent date", "知情同意日期",
           description="Required for the prospective cohort."),
        _f("name", Kind.STR, "Name", "姓名", identifier=True),
        _f("phone", Kind.STR, "Phone", "电话", identifier=True),
        _f("national_id", Kind.STR, "National ID number", "身份证号", identifier=True),
        _f("record_number", Kind.STR, "Hospital record number", "住院号", identifier=True),
        _f("age_years", Kind.INT, "Age", "年龄", required=True, unit="years", hard=(0, 120),
           soft=(18, 80), description="Age at the index date; inclusion 18–80."),
        _f("sex", Kind.CODE, "Sex", "性别", required=True, codes=("M", "F"),
           aliases=MappingProxyType({"男": "M", "女": "F", "male": "M", "female": "F"})),
        _f("diagnosis_date", Kind.DATE, "HCC diagnosis date", "诊断日期"),
        _f("diagnosis_basis", Kind.CODE, "Diagnosis basis", "诊断依据",
           codes=("histology", "imaging"),
           aliases=MappingProxyType({"病理": "histology", "影像": "imaging"})),
        _f("etiology", Kind.CODE, "Etiology", "病因", codes=("HBV", "HCV", "alcohol", "MASLD", "other"),
           aliases=MappingProxyType({"乙肝": "HBV", "丙肝": "HCV", "酒精": "alcohol",
                                     "NAFLD": "MASLD", "NASH": "MASLD", "其他": "other"})),
        _f("hbv_dna_log10_iu_ml", Kind.FLOAT, "HBV DNA", "HBV DNA", unit="log10 IU/mL",
           hard=(0, 10)),
        _f("cirrhosis", _BOOL, "Cirrhosis", "肝硬化"),
        _f("ecog", Kind.INT, "ECOG performance status", "ECOG评分", required=True, hard=(0, 5),
           soft=(0, 2)),
        _f("ascites", Kind.CODE, "Ascites", "腹水", codes=("none", "mild", "moderate_severe"),
           aliases=MappingProxyType({"无": "none", "少量": "mild", "轻度": "mild",
                                     "中大量": "moderate_severe", "moderate": "moderate_severe",
                                     "severe": "moderate_severe"})),
        _f("encephalopathy", Kind.CODE, "Hepatic encephalopathy", "肝性脑病",
           codes=("none", "grade_1_2", "grade_3_4"),
           aliases=MappingProxyType({"无": "none", "I-II": "grade_1_2", "III-IV": "grade_3_4"})),
        _f("bclc", Kind.CODE, "BCLC stage", "BCLC分期", required=True, codes=("0", "A", "B", "C", "D"),
           description="BCLC 2022; D is excluded from the study."),
        _f("bclc_version", Kind.CODE, "BCLC version", "BCLC版本", codes=("2022", "2018")),
        _f("tumour_number", Kind.INT, "Number of tumours", "肿瘤数目", required=True, hard=(1, 50),
           censorable=True, description="Write '>10' when uncountable; kept as 10 + censor flag."),
        _f("largest_diameter_mm", Kind.FLOAT, "Largest tumour diameter", "最大肿瘤直径",
           required=True, unit="mm", hard=(10, 250), soft=(None, 200)),
        _f("pvtt", Kind.CODE, "Portal vein tumour thrombus (Vp)", "门静脉癌栓",
           codes=("Vp0", "Vp1", "Vp2", "Vp3", "Vp4"),
           aliases=MappingProxyType({"无": "Vp0", "none": "Vp0", "0": "Vp0", "1": "Vp1",
                                     "2": "Vp2", "3": "Vp3", "4": "Vp4"})),
        _f("hvtt", _BOOL, "Hepatic vein / IVC tumour thrombus", "肝静脉/下腔静脉癌栓"),
        _f("extrahepatic_spread", _BOOL, "Extrahepatic spread", "肝外转移", required=True),
        _f("ehs_sites", Kind.CODES, "Extrahepatic sites", "肝外转移部位",
           codes=("lung", "node", "bone", "peritoneum", "adrenal", "other"),
           aliases=MappingProxyType({"肺": "lung", "淋巴结": "node", "骨": "bone",
                                     "腹膜": "peritoneum", "肾上腺": "adrenal"})),
        _f("weight_kg", Kind.FLOAT, "Body weight", "体重", unit="kg", hard=(25, 250), soft=(35, 130)),
        _f("unresectable", _BOOL, "Unresectable (surgically or oncologically)", "不可切除"),
        _f("prior_hcc_therapy", _BOOL, "Prior local or systemic HCC therapy", "既往肝癌治疗"),
        _f("combined_hcc_cca", _BOOL, "Combined HCC-cholangiocarcinoma on pathology", "混合型肝癌"),
        _f("other_malignancy", _BOOL, "Another concurrent malignancy", "合并其他恶性肿瘤"),
        _f("biopsy_contraindicated", _BOOL, "Contraindication to liver biopsy (prospective)",
           "肝穿刺禁忌"),
        _f("unable_to_follow_up", _BOOL, "Unable to comply with follow-up (prospective)",
           "无法随访"),
        _f("notes", Kind.STR, "Notes", "备注", free_text=True),
    ),
)

_TACE_AGENTS = ("cTACE", "DEB-TACE")
_HAIC_AGENTS = ("HAIC-FOLFOX", "HAIC-other")
_TKI_AGENTS = ("lenvatinib", "sorafenib", "donafenib", "apatinib", "regorafenib")
_PD1_AGENTS = ("camrelizumab", "sintilimab", "tislelizumab", "toripalimab", "pembrolizumab",
               "atezolizumab", "durvalumab", "other_pd1")
_OTHER_AGENTS = ("resection", "ablation", "radiotherapy", "transplant", "systemic_other", "other")

AGENTS_BY_KIND: dict[str, tuple[str, ...]] = {
    "TACE": _TACE_AGENTS, "HAIC": _HAIC_AGENTS, "TKI": _TKI_AGENTS, "PD1": _PD1_AGENTS,
    "other_anticancer": _OTHER_AGENTS,
}
#: Plausible counts of sessions/cycles per treatment kind (domain.md §4).
CYCLES_BY_KIND: dict[str, tuple[int, int]] = {"TACE": (1, 15), "HAIC": (1, 12), "PD1": (1, 40)}

TREATMENTS = TableSchema(
    name="treatments", label_en="Treatments", label_zh="治疗", key=("patient_id", "kind", "agent", "start_date"),
    description="One row per treatment course or procedure (long format).",
    fields=(
        PATIENT_ID,
        _f("kind", Kind.CODE, "Kind", "治疗类型", required=True,
           codes=("TACE", "HAIC", "TKI", "PD1", "other_anticancer"),
           aliases=MappingProxyType({"PD-1": "PD1", "pd-1": "PD1", "靶向": "TKI", "免疫": "PD1",
                                     "other": "other_anticancer"})),
        _f("agent", Kind.CODE, "Agent or technique", "药物/术式", required=True,
           codes=tuple(a for agents in AGENTS_BY_KIND.values() for a in agents),
           aliases=MappingProxyType({
               "仑伐替尼": "lenvatinib", "乐伐替尼": "lenvatinib", "索拉非尼": "sorafenib",
               "多纳非尼": "donafenib", "阿帕替尼": "apatinib", "瑞戈非尼": "regorafenib",
               "卡瑞利珠单抗": "camrelizumab", "信迪利单抗": "sintilimab",
               "替雷利珠单抗": "tislelizumab", "特瑞普利单抗": "toripalimab",
               "帕博利珠单抗": "pembrolizumab", "阿替利珠单抗": "atezolizumab",
               "conventional TACE": "cTACE", "DEB TACE": "DEB-TACE", "FOLFOX": "HAIC-FOLFOX",
               "手术切除": "resection", "消融": "ablation", "放疗": "radiotherapy"})),
        _f("start_date", Kind.DATE, "Start date", "开始日期", required=True),
        _f("end_date", Kind.DATE, "End date", "结束日期"),
        _f("dose", Kind.FLOAT, "Dose", "剂量", hard=(0, 10000)),
        _f("dose_unit", Kind.STR, "Dose unit", "剂量单位"),
        _f("cycles", Kind.INT, "Sessions / cycles", "次数/周期", hard=(1, 40)),
    ),
)

LABS = TableSchema(
    name="labs", label_en="Laboratory values", label_zh="实验室检查", key=("patient_id", "date", "test"),
    description="One row per test result (long format). Values are converted to the canonical "
                "unit of the test at ingestion; '<0.5' / '>1000' keep a censor flag.",
    fields=(
        PATIENT_ID,
        _f("date", Kind.DATE, "Sample date", "检查日期", required=True),
        _f("test", Kind.CODE, "Test", "检查项目", required=True, codes=tuple(t.code for t in LAB_TESTS)),
        _f("value", Kind.FLOAT, "Value", "结果", required=True, censorable=True),
        _f("unit", Kind.STR, "Unit as reported", "单位",
           description="Converted to the test's canonical unit; the reported unit is kept in "
                       "source_unit."),
        _f("lln", Kind.FLOAT, "Lower limit of normal", "参考下限"),
        _f("uln", Kind.FLOAT, "Upper limit of normal", "参考上限"),
    ),
)

EXAMS = TableSchema(
    name="exams", label_en="Imaging exams", label_zh="影像检查", key=("exam_id",),
    description="One row per contrast CT or MRI exam.",
    fields=(
        _f("exam_id", Kind.STR, "Exam ID", "检查编号", required=True),
        PATIENT_ID,
        _f("date", Kind.DATE, "Exam date", "检查日期", required=True),
        _f("modality", Kind.CODE, "Modality", "检查方式", required=True, codes=("CT", "MR"),
           aliases=MappingProxyType({"MRI": "MR", "磁共振": "MR", "增强CT": "CT"})),
        _f("phases", Kind.CODES, "Phases available", "期相",
           codes=("pre_contrast", "arterial", "portal_venous", "delayed", "hepatobiliary"),
           aliases=MappingProxyType({"平扫": "pre_contrast", "动脉期": "arterial",
                                     "门脉期": "portal_venous", "门静脉期": "portal_venous",
                                     "延迟期": "delayed", "肝胆期": "hepatobiliary",
                                     "AP": "arterial", "PVP": "portal_venous", "PV": "portal_venous"})),
        _f("slice_thickness_mm", Kind.FLOAT, "Slice thickness", "层厚", unit="mm", hard=(0.1, 20),
           soft=(None, 5)),
        _f("image_path", Kind.STR, "Image path", "影像路径", path=True),
    ),
)

LESION_READS = TableSchema(
    name="lesion_reads", label_en="Lesion reads", label_zh="病灶测量",
    key=("exam_id", "reader", "lesion_id"),
    description="One row per lesion per exam per reader (R1, R2 blinded; MDT consensus).",
    fields=(
        PATIENT_ID,
        _f("exam_id", Kind.STR, "Exam ID", "检查编号", required=True),
        _f("reader", Kind.CODE, "Reader", "阅片者", required=True, codes=("R1", "R2", "MDT")),
        _f("lesion_id", Kind.STR, "Lesion ID", "病灶编号", required=True),
        _f("kind", Kind.CODE, "Lesion role", "病灶类型", required=True,
           codes=("target", "non_target", "new"),
           aliases=MappingProxyType({"靶病灶": "target", "非靶病灶": "non_target", "新发": "new"})),
        _f("organ", Kind.CODE, "Organ", "部位", required=True,
           codes=("liver", "lung", "node", "bone", "peritoneum", "vessel", "other"),
           aliases=MappingProxyType({"肝": "liver", "肺": "lung", "淋巴结": "node", "骨": "bone",
                                     "腹膜": "peritoneum", "血管": "vessel"})),
        _f("typical_hcc", _BOOL, "Typical HCC pattern (APHE + washout)", "典型强化"),
        _f("viable_diameter_mm", Kind.FLOAT, "Viable (enhancing) diameter", "存活直径", unit="mm",
           hard=(0, 300)),
        _f("longest_diameter_mm", Kind.FLOAT, "Longest diameter", "最长径", unit="mm", hard=(0, 300)),
        _f("short_axis_mm", Kind.FLOAT, "Short axis (nodes)", "短径", unit="mm", hard=(0, 200)),
        _f("nontarget_status", Kind.CODE, "Non-target status", "非靶病灶状态",
           codes=("absent", "present", "unequivocal_progression", "not_evaluated")),
        _f("evaluable", _BOOL, "Evaluable", "可评估"),
        _f("vascular_class", Kind.CODE, "Tumour thrombus class", "癌栓分型",
           codes=("Vp1", "Vp2", "Vp3", "Vp4", "Vv1", "Vv2", "Vv3")),
        _f("porta_hepatis", _BOOL, "Porta hepatis lymph node", "肝门淋巴结",
           description="Nodes at the porta hepatis count as malignant only from 20 mm short "
                       "axis (cirrhosis makes reactive nodes; domain.md §1.2, §1.6)."),
        _f("is_effusion", _BOOL, "Effusion / ascites", "积液"),
        _f("cytology_malignant", _BOOL, "Cytology malignant", "细胞学阳性"),
    ),
)

FOLLOWUP = TableSchema(
    name="followup", label_en="Follow-up", label_zh="随访", key=("patient_id",),
    description="One row per patient: last date known alive and death.",
    fields=(
        PATIENT_ID,
        _f("last_contact_date", Kind.DATE, "Last date known alive", "末次随访日期", required=True),
        _f("death_date", Kind.DATE, "Death date", "死亡日期"),
        _f("death_cause", Kind.CODE, "Cause of death", "死因",
           codes=("tumour_progression", "liver_failure", "bleeding", "infection",
                  "treatment_related", "other", "unknown"),
           aliases=MappingProxyType({"肿瘤进展": "tumour_progression", "肝衰竭": "liver_failure",
                                     "出血": "bleeding", "感染": "infection", "未知": "unknown"})),
        _f("lost_to_followup", _BOOL, "Lost to follow-up", "失访"),
        _f("notes", Kind.STR, "Notes", "备注", free_text=True),
    ),
)

#: CTCAE v5.0 terms the study expects, with the grades each one defines (domain.md §6).
CTCAE_TERMS: dict[str, tuple[int, ...]] = {
    "Hematoma": (1, 2, 3, 4, 5), "Hepatic hemorrhage": (1, 2, 3, 4, 5),
    "Intra-abdominal hemorrhage": (1, 2, 3, 4, 5), "Pain": (1, 2, 3), "Abdominal pain": (1, 2, 3),
    "Fever": (1, 2, 3, 4, 5), "Hypotension": (1, 2, 3, 4, 5), "Vasovagal reaction": (3, 4, 5),
    "Pneumothorax": (1, 2, 3, 4, 5), "Hepatic infection": (1, 2, 3, 4, 5),
    "Skin infection": (1, 2, 3, 4, 5), "Sepsis": (4, 5), "Nausea": (1, 2, 3),
    "Vomiting": (1, 2, 3, 4, 5), "Fatigue": (1, 2, 3), "Diarrhea": (1, 2, 3, 4, 5),
    "Hypertension": (1, 2, 3, 4, 5), "Palmar-plantar erythrodysesthesia syndrome": (1, 2, 3),
    "Proteinuria": (1, 2, 3), "Hypothyroidism": (1, 2, 3, 4, 5), "Rash maculo-papular": (1, 2, 3),
    "Alanine aminotransferase increased": (1, 2, 3, 4), "Aspartate aminotransferase increased": (1, 2, 3, 4),
    "Blood bilirubin increased": (1, 2, 3, 4), "Platelet count decreased": (1, 2, 3, 4),
    "Neutrophil count decreased": (1, 2, 3, 4), "Anemia": (1, 2, 3, 4, 5),
    "Hypoalbuminemia": (1, 2, 3, 4, 5), "Neoplasm, other": (1, 2, 3, 4, 5),
}

ADVERSE_EVENTS = TableSchema(
    name="adverse_events", label_en="Adverse events", label_zh="不良事件",
    key=("patient_id", "term", "onset_date"),
    description="One row per adverse event, graded by CTCAE v5.0.",
    fields=(
        PATIENT_ID,
        _f("term", Kind.STR, "CTCAE term", "CTCAE术语", required=True),
        _f("grade", Kind.INT, "Grade", "分级", required=True, hard=(1, 5)),
        _f("onset_date", Kind.DATE, "Onset date", "发生日期", required=True),
        _f("resolution_date", Kind.DATE, "Resolution date", "缓解日期"),
        _f("procedure", Kind.CODE, "Related procedure", "相关操作", required=True,
           codes=("biopsy", "specimen_collection", "TACE", "HAIC", "TKI", "PD1", "other"),
           aliases=MappingProxyType({"肝穿刺": "biopsy", "活检": "biopsy", "PD-1": "PD1"})),
        _f("attribution", Kind.CODE, "Attribution", "相关性",
           codes=("unrelated", "unlikely", "possible", "probable", "definite"),
           aliases=MappingProxyType({"无关": "unrelated", "可能无关": "unlikely",
                                     "可能有关": "possible", "很可能有关": "probable",
                                     "肯定有关": "definite"})),
        _f("serious", _BOOL, "Serious adverse event", "严重不良事件"),
        _f("notes", Kind.STR, "Notes", "备注", free_text=True),
    ),
)

#: What the protocol says happens to each specimen kind after use (domain.md §0).
SPECIMEN_FATE: dict[str, str] = {"biopsy_wsi": "preserved", "rna": "preserved", "ihc": "preserved",
                                 "blood": "destroyed", "flow": "destroyed",
                                 "proteomics": "destroyed", "metabolomics": "destroyed"}

SPECIMENS = TableSchema(
    name="specimens", label_en="Specimens", label_zh="标本", key=("sample_id",),
    description="One row per specimen (biopsy slide, blood, RNA, IHC, flow, proteomics, "
                "metabolomics).",
    fields=(
        PATIENT_ID,
        _f("sample_id", Kind.STR, "Sample ID", "标本编号", required=True),
        _f("slide_id", Kind.STR, "Slide ID", "切片编号", description="Required for biopsy_wsi."),
        _f("kind", Kind.CODE, "Specimen kind", "标本类型", required=True,
           codes=tuple(SPECIMEN_FATE)),
        _f("site", Kind.CODE, "Site", "取材部位",
           codes=("liver_tumour", "liver_nontumour", "hepatic_artery_blood", "hepatic_vein_blood",
                  "peripheral_blood"),
           aliases=MappingProxyType({"肿瘤": "liver_tumour", "肝动脉血": "hepatic_artery_blood",
                                     "肝静脉血": "hepatic_vein_blood", "外周血": "peripheral_blood"})),
        _f("date", Kind.DATE, "Collection date", "采集日期", required=True),
        _f("path", Kind.STR, "File path", "文件路径", path=True),
        _f("fate", Kind.CODE, "Fate after use", "使用后处理", codes=("preserved", "destroyed"),
           aliases=MappingProxyType({"保存": "preserved", "销毁": "destroyed"})),
    ),
)

TABLES: dict[str, TableSchema] = {t.name: t for t in (
    PATIENTS, LABS, TREATMENTS, EXAMS, LESION_READS, FOLLOWUP, ADVERSE_EVENTS, SPECIMENS)}

#: Columns the validator adds to ``labs`` beside the fields.
LAB_EXTRA_COLUMNS = ("source_value", "source_unit")


def table_columns(name: str) -> tuple[str, ...]:
    """Columns of the validated (canonical) table ``name``, in order."""
    schema = TABLES[name]
    cols = schema.output_columns()
    return cols + LAB_EXTRA_COLUMNS if name == "labs" else cols
