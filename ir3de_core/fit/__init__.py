"""The fit path: featurize a part → statistics → sum the parts → cross-validate → solve.

Modules: `spec` (`FitSpec`, the one fit path), `sums` (prompts → statistics), `targets` (domain
labels or score matrices), `parts` (`FitPart`: what a chunk contributes; parts add up), `folds`
(fold ids from prompt hashes, the held-out sample), `cross_validation`, `tuning`, `held_out` and
`selection` (choosing the ``"auto"`` settings), `updates` (new states without a refit).

The sub-package imports nothing on import; import the module you need.
"""

__all__: list[str] = []
