"""ir3de_core: the IR3DE router — a closed-form ridge regression that routes prompts to experts."""

from ir3de_core._version import __version__
from ir3de_core.decide.decision import Contribution, ExpertScores, RoutingDecision
from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.decide.state import RoutedState
from ir3de_core.exceptions import (
    DataError,
    ExpertError,
    FitMemoryError,
    IR3DEError,
    MissingDependencyError,
    ModelFileError,
    NotFittedError,
)
from ir3de_core.featurizers import (
    HashingFeaturizer,
    OpenAIEmbeddingFeaturizer,
    SentenceFeaturizer,
    TokenEmbeddingFeaturizer,
    make_featurizer,
)
from ir3de_core.fit.parts import FitPart
from ir3de_core.fit.spec import FitSpec
from ir3de_core.ridge.statistics import SufficientStatistics
from ir3de_core.router import IR3DERouter
from ir3de_core.settings import RouterSettings

__all__ = [
    "Contribution",
    "DataError",
    "ExpertError",
    "ExpertScores",
    "FitMemoryError",
    "FitPart",
    "FitSpec",
    "HashingFeaturizer",
    "IR3DEError",
    "IR3DERouter",
    "MissingDependencyError",
    "ModelFileError",
    "NotFittedError",
    "OpenAIEmbeddingFeaturizer",
    "RoutedState",
    "RouterSettings",
    "RoutingDecision",
    "RoutingPolicy",
    "SentenceFeaturizer",
    "SufficientStatistics",
    "TokenEmbeddingFeaturizer",
    "__version__",
    "make_featurizer",
]
