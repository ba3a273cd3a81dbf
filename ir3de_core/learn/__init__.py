"""Learning from traffic: judge a candidate router on the gateway's decision + feedback log.

Modules: `off_policy` (IPS, SNIPS and doubly robust estimates with bootstrap intervals, from a
logged decision + feedback file), `off_policy_gain` (a candidate's gain over the router in
force on the same log: what the gateway's shadow promotion decides on), `replay` (a data set
streamed as bandit feedback, to compare exploration rules and choose their strength).

The sub-package imports nothing on import; import the module you need.
"""

__all__: list[str] = []
