"""Tests of member organisations and their submissions."""
