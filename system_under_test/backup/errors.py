"""Exceptions raised by the backup package; each message says what is wrong and where."""

from __future__ import annotations


class BackupError(RuntimeError):
    """A backup, restore or verification could not be carried out."""


class IntegrityError(BackupError):
    """A backup file does not match its manifest (corrupt, truncated or missing); nothing was restored."""


class VerificationError(BackupError):
    """A restored database differs from the manifest (row counts or content checksums)."""
