"""One self-contained HTML page of recorded runs beside the published numbers.

:func:`write_report` renders the runs of a store — config, seed, commit, machine, timings,
status, figures (embedded), tables — with, per experiment, the published reference values
(``references.yaml``) and a verdict per claim: *reproduced*, *differs* (with the measured
and the published value and the stated reason) or *not run*.
"""

from .build import build_report, select_runs, write_report
from .claims import Claim, Verdict, evaluate, load_claims

__all__ = [
    "Claim",
    "Verdict",
    "build_report",
    "evaluate",
    "load_claims",
    "select_runs",
    "write_report",
]
