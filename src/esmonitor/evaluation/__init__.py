"""Causal and risk-adjusted evaluation: estimators as pure functions returning frozen results."""
