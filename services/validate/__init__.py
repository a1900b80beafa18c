"""The validate stage: content rules that a readable review must meet."""
