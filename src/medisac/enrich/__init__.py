"""Enrichment: what medisac adds to an indicator beyond what sources reported."""
