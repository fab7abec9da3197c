"""Measures computed from the warehouse."""
