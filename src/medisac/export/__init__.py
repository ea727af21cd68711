"""Exports of the indicator set in the formats defenders' tools read."""
