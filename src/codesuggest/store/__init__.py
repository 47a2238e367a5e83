"""What coders decide, kept: the SQLite audit log and the CSV, JSON and FHIR R4 exports."""

from codesuggest.store.audit import AuditStore, note_sha256

__all__ = ["AuditStore", "note_sha256"]
