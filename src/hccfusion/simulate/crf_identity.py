"""Fake but realistic direct identifiers for the CRF's ``patients`` sheet: Chinese names, mobile
numbers, 18-digit national ID numbers and hospital record numbers.

They exist so that de-identification can be tested; none belongs to a real person (names are
random syllable combinations). National ID numbers follow GB 11643-1999: 6-digit area code,
birth date YYYYMMDD, 3-digit sequence (odd for men, even for women) and the ISO 7064 MOD 11-2
check character.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

SURNAMES = tuple("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
                 "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶贺顾毛郝龚邵万钱严武戴孔汤")
GIVEN_MALE = tuple("伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆文建国志东海峰德林春云龙")
GIVEN_FEMALE = tuple("芳娜敏静丽艳娟霞秀英玲桂兰萍红梅琳雪婷慧颖洁佳倩琴燕凤霞月莉珍")
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                   "152", "157", "158", "159", "177", "180", "181", "182", "186", "187", "188", "189",
                   "199")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def national_id_check(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits (GB 11643-1999)."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK[total % 11]


def fake_name(rng: np.random.Generator, *, male: bool) -> str:
    given = GIVEN_MALE if male else GIVEN_FEMALE
    n = 1 if rng.random() < 0.3 else 2
    return str(rng.choice(SURNAMES)) + "".join(str(rng.choice(given)) for _ in range(n))


def fake_phone(rng: np.random.Generator) -> str:
    return str(rng.choice(MOBILE_PREFIXES)) + "".join(str(d) for d in rng.integers(0, 10, size=8))


def fake_national_id(rng: np.random.Generator, *, area_codes: tuple[str, ...], birth: dt.date,
                     male: bool) -> str:
    seq = int(rng.integers(0, 500)) * 2 + (1 if male else 0)
    first17 = f"{rng.choice(area_codes)}{birth:%Y%m%d}{seq:03d}"
    return first17 + national_id_check(first17)


def fake_record_number(rng: np.random.Generator, *, prefix: str) -> str:
    digits = "".join(str(d) for d in rng.integers(0, 10, size=8))
    return f"{prefix}{digits}" if prefix else f"00{digits}"


def birth_date(rng: np.random.Generator, *, t0: dt.date, age_years: int) -> dt.date:
    """A birth date such that the age at ``t0`` is ``age_years``."""
    latest = dt.date(t0.year - age_years, t0.month, min(t0.day, 28))
    return latest - dt.timedelta(days=int(rng.integers(0, 360)))
