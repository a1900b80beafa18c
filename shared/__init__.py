"""Code every Marquee service shares: settings, models, the Celery app, storage and state."""
