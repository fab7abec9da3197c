"""Getting extracts in: read, map columns, drop direct identifiers, pseudonymize, validate,
quarantine bad rows and load good ones atomically."""
