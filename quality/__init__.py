"""Validation: identifier validators, the rule set, the Great Expectations suite and its runner."""
