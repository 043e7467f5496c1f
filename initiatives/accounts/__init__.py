"""Accounts: registration, sign-in, passwords, roles."""
