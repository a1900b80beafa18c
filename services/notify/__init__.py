"""The notify stage: mark the review published and tell downstream channels."""
