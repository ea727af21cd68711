"""Sensor ingest: batches of sightings, validated, queued and applied once."""
