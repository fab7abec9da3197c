"""Disclosure control: every number for a public audience passes here (small cells, totals that
would reveal them, linked tables), and the access policy decides who sees what."""
