"""The Marquee services: ingest (HTTP) and one Celery worker service per pipeline stage."""
