"""The decision path: a routed state scores prompts, a policy turns the scores into decisions.

Modules: `state` (`RoutedState`, the immutable fitted model), `tokens` and `aggregation` (token
scores, the vote and the average), `decision` (`ExpertScores` in, `RoutingDecision` out),
`policy` (`RoutingPolicy`), `confidence` (calibrated probabilities), `explanation`, `fallback`
(decide again without a failed expert), `calibration` (λ for a budget), `cascade`, `uniroute`
(LLMs unseen in training), `metrics` (AIQ, APGR).

The sub-package imports nothing on import; import the module you need.
"""

__all__: list[str] = []
