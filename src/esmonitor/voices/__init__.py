"""Stakeholder voices: survey instruments, responses, open-text redaction, language and themes."""
