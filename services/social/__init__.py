"""The social stage: Instagram and YouTube teasers, made by two tasks on one queue."""
