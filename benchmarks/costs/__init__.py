"""`python -m benchmarks costs`: cost–quality curves, unseen LLMs and online feedback.

Parts (each prints its tables as it goes and returns them for ``--json``):

- ``routerbench``: cost–quality curves, AIQ, the cost of reaching GPT-4's quality, budgets,
  RouteLLM's APGR/CPT, a PNG, and what any router must do to reach the ≤ 30 % target;
- ``baddata``: a corrupted copy of the RouterBench test split, handled and counted;
- ``unseen``: UniRoute and the ridge router's ``add_expert`` over random seen/unseen LLM splits;
- ``feedback``: a replay of a train split as bandit feedback through ``partial_fit``.
"""

from benchmarks.costs.run import PARTS, CostBenchOptions, run_costs
from benchmarks.costs.tables import Table

__all__ = ["PARTS", "CostBenchOptions", "Table", "run_costs"]
