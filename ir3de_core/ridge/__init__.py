"""The closed-form ridge maths: sufficient statistics that merge, grow and shrink exactly, and
their solution.

Modules: `moments` (Chan's merge of centred moments, and its inverse), `statistics`
(`SufficientStatistics`), `solver` (statistics → weights, one eigendecomposition for a grid of
penalties), `linalg` (a guarded positive-definite solve), `online` (rank-one feedback updates).

The sub-package imports nothing on import; import the module you need.
"""

__all__: list[str] = []
