"""Fits beyond one list in memory: streamed from files (with resumable checkpoints) and on Dask.

Modules: `training` (`fit_stream`), `streaming` (records in chunks), `checkpoint` and `consumed`
(the running sum, resumable only over the bytes it summed), `distributed` (the Dask fit).

The sub-package imports nothing on import; import the module you need.
"""

__all__: list[str] = []
