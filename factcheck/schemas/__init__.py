"""JSON Schemas shipped with factcheck."""
