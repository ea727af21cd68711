"""Member organisations, their keys and what they may read and contribute."""
