"""`ir3de`: the command line over ir3de_core — fit, route, evaluate, calibrate, experts, demo,
serve — with the bundled sample of 120 prompts and the evaluation of routed decisions."""
