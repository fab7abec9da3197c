"""Funding models: what performance-based rules pay, what they reward, and what-if scenarios."""
