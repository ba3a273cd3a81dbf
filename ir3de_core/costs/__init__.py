"""Cost-aware routing: policies, cascades, unseen LLMs (UniRoute), online feedback, metrics."""

from ir3de_core.costs.baselines import KNNQualityRouter, MLPQualityRouter
from ir3de_core.costs.cascade import Cascade, CascadeResult, cascade_order
from ir3de_core.costs.features import PrecomputedFeaturizer, cached_transform
from ir3de_core.costs.feedback import FeedbackStep, RankOneRidge, replay_feedback
from ir3de_core.costs.metrics import (
    aiq,
    apgr,
    cost_to_reach,
    cpt,
    hull_quality_at,
    pgr_curve,
    plot_cost_quality,
    quality_hull,
)
from ir3de_core.costs.policies import (
    OperatingPoint,
    calibrate_budget,
    calibrate_threshold,
    choose,
    choose_with_default,
    lambda_grid,
    lambda_path,
    operating_point,
    prompt_costs,
)
from ir3de_core.costs.routing import CostAwareRouter, QualityModel
from ir3de_core.costs.table import CostTable, DataReport, cost_table
from ir3de_core.costs.uniroute import UniRouteRouter

__all__ = [
    "Cascade",
    "CascadeResult",
    "CostAwareRouter",
    "CostTable",
    "DataReport",
    "FeedbackStep",
    "KNNQualityRouter",
    "MLPQualityRouter",
    "OperatingPoint",
    "PrecomputedFeaturizer",
    "QualityModel",
    "RankOneRidge",
    "UniRouteRouter",
    "aiq",
    "apgr",
    "cached_transform",
    "calibrate_budget",
    "calibrate_threshold",
    "cascade_order",
    "choose",
    "choose_with_default",
    "cost_table",
    "cost_to_reach",
    "cpt",
    "hull_quality_at",
    "lambda_grid",
    "lambda_path",
    "operating_point",
    "pgr_curve",
    "plot_cost_quality",
    "prompt_costs",
    "quality_hull",
    "replay_feedback",
]
