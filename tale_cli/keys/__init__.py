"""Keys and what guards them: the OS keyring store, key checks, redaction of secrets from every output, the privacy
guard of private runs, and the audit log of every inference request (never a key)."""
