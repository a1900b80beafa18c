"""Smaller runs of the fault campaign (tests/chaos/campaign.py) in `make test`:
workers killed, S3 failing, duplicate deliveries. Nothing lost, nothing published twice."""

import pytest

from tests.chaos.campaign import duplicate_deliveries, failing_s3, kill_workers, run_scenario

pytestmark = pytest.mark.integration

def check(tally, size):
    print(tally)
    assert tally.accepted >= size
    assert tally.lost == 0, tally.notes
    assert tally.duplicates == 0, tally.notes
    assert tally.rejected_unexpectedly == 0
    assert tally.failed == 0, tally.notes
    assert tally.published + tally.rejected == tally.accepted


def test_workers_killed_at_random_lose_nothing():
    check(run_scenario(kill_workers, 30), 30)


def test_a_failing_s3_api_delays_but_loses_nothing():
    # Small: at a 30% fault rate each publication takes seconds of retries.
    tally = run_scenario(failing_s3, 10, fault_rate=0.3, concurrency=4)
    check(tally, 10)
    injected = next(note for note in tally.notes if note.startswith("S3 requests"))
    assert "reset" in injected or "stall" in injected or "500" in injected
    assert tally.retries > 0  # the faults show in the metrics


def test_every_submission_delivered_three_times_is_published_once():
    tally = run_scenario(duplicate_deliveries, 20)
    check(tally, 20)
    assert tally.accepted == 20
