"""Housekeeping that no stage owns, run on a timer by beat on the maintenance queue, which
every stage worker also serves (shared/queues.py): the sweeper."""
