"""Saving and loading a routed state as checked arrays and a manifest, never pickle.

Modules: `router_file` (`save_router`, `load_router`: a saved router is untrusted data, see
docs/security.md), `arrayfile` (an ``.npz`` read member by member, checked before it is read).

The sub-package imports nothing on import; import the module you need.
"""

__all__: list[str] = []
