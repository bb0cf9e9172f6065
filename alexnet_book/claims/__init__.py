"""The paper's claims, tested: a registry, a resumable runner and the analysis.

- :mod:`~alexnet_book.claims.registry`: what a claim, an arm, a scale and a metric are
  (built with keywords, checked when built), the tiers, the decay arithmetic;
- :mod:`~alexnet_book.claims.paper`: the paper's claims, one entry each (``CLAIMS``);
- :mod:`~alexnet_book.claims.plan`: choosing claims, the jobs and their parts;
- :mod:`~alexnet_book.claims.runner`: the runs, resuming, workers;
- :mod:`~alexnet_book.claims.store`: result lines written whole and read with every
  problem named by file and line;
- :mod:`~alexnet_book.claims.report`: effects, intervals, verdicts, power, the table,
  the forest plot and the "Paper vs here" text.

Command line: ``python -m alexnet_book.claims --help``.
"""

from alexnet_book.claims.paper import CLAIMS
from alexnet_book.claims.registry import (
                                          METRICS,
                                          PRECONDITIONS,
                                          TIERS,
                                          Arm,
                                          Claim,
                                          Metric,
                                          Scale,
                                          UnknownClaimError,
                                          arm,
                                          decay_efolds,
                                          paper_decay_efolds,
                                          scale,
)
from alexnet_book.claims.report import (
                                          CANNOT_TEST,
                                          analyse,
                                          beyond_reason,
                                          compute_time,
                                          describe_result,
                                          forest_plot,
                                          in_plain_words,
                                          lab_table,
                                          largest_measured,
                                          paper_vs_here,
                                          power_table,
                                          registry_table,
                                          stored_by_tier,
                                          summarise,
                                          untested_table,
                                          verdict_text,
)
from alexnet_book.claims.runner import (
                                          CPU2_COMMAND,
                                          CPU_COMMAND,
                                          GPU_COMMAND,
                                          build,
                                          get,
                                          plan,
                                          run,
                                          runnable,
                                          select,
                                          steps_to,
                                          unpack_correct,
)
from alexnet_book.claims.store import ResultsFormatError, check_complete, read_file, stored_rows, validate_rows

__all__ = ["CLAIMS", "METRICS", "PRECONDITIONS", "CANNOT_TEST", "CPU2_COMMAND", "beyond_reason",
           "verdict_text", "TIERS", "Arm", "Claim", "Metric", "Scale", "UnknownClaimError", "arm",
           "compute_time", "decay_efolds", "paper_decay_efolds", "scale", "analyse", "describe_result",
           "forest_plot",
           "lab_table", "largest_measured", "in_plain_words", "paper_vs_here", "power_table", "registry_table",
           "stored_by_tier",
           "summarise",
           "untested_table", "CPU_COMMAND", "GPU_COMMAND", "build", "get", "plan", "run", "runnable",
           "select", "steps_to", "unpack_correct", "ResultsFormatError", "check_complete", "read_file",
           "stored_rows", "validate_rows"]
