"""The ingest service: the HTTP front door where writers submit reviews."""
