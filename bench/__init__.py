"""A benchmark, not a test: a real Home Assistant reading big histories from the fakes.

``scripts/bench`` seeds each fake account with a history of years (10,000 workouts, 2,000 scans,
50,000 BAC readings), adds the account through Home Assistant's REST config flow as the
acceptance suite does, and measures what reading that history costs: requests per endpoint, wall
time, peak memory of Home Assistant, event-loop blocks; then a catch-up and an idle poll.
"""
