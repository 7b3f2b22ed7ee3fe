"""Durations read as people say them: a step of 18 ms is not "0.0 s", a day is not "24.00 h"."""

import pytest

from deepsynth.units import readable_duration


@pytest.mark.parametrize("seconds, shown", [(None, "—"), (0.0004, "< 1 ms"), (0.018, "18 ms"), (0.0, "0.0 s"),
                                            (4.25, "4.2 s"), (42, "42 s"), (210, "3.5 min"), (8100, "2.25 h"),
                                            (3 * 86400, "3.0 days")])
def test_readable_duration(seconds, shown):
    assert readable_duration(seconds) == shown
