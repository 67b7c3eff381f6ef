"""Case report forms: the template, reading, validation and writing of CRF workbooks."""

from hccfusion.io.crf.report import Issue, ValidationReport
from hccfusion.io.crf.rules import RULE_NAMES
from hccfusion.io.crf.template import write_template, write_workbook
from hccfusion.io.crf.validate import validate_crf

__all__ = ["Issue", "RULE_NAMES", "ValidationReport", "validate_crf", "write_template",
           "write_workbook"]
