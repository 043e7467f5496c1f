"""The initiatives area (named proposals so imports do not read initiatives.initiatives)."""
