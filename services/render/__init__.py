"""The render stage: a validated review becomes its article page."""
