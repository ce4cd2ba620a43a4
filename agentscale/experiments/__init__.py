"""Ready-made experiments: scaled HumanEval (``humaneval``) and its scaling benchmark
(``humaneval_scaling``). The ``agentscale demo`` command and ``benchmarks/`` call these; they hold
the logic, the command line only shows it."""

from agentscale.experiments.humaneval import ProblemResult, SampleRecord, Summary, solve, summarize

__all__ = ["ProblemResult", "SampleRecord", "Summary", "solve", "summarize"]
