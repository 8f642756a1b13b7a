"""Decider: the core of a contextual-bandit decision API (the Lambda layer)."""
