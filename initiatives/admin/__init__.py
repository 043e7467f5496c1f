"""Administration: users and roles, the outbox, the audit log."""
