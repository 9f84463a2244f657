"""The estimate of the time left in a stage of work."""

from whalecat.progress import TIME_LEFT_AFTER, TimeLeft, clock_text


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_time_left_from_rate():
    clock = FakeClock()
    time_left = TimeLeft(clock)
    assert time_left.update(0, 10) is None
    for done in range(1, TIME_LEFT_AFTER):
        clock.now += 2.0
        assert time_left.update(done, 10) is None
    clock.now += 2.0

    assert time_left.update(TIME_LEFT_AFTER, 10) == 2.0 * (10 - TIME_LEFT_AFTER)


def test_time_left_skips_set_up_before_first_report():
    clock = FakeClock()
    clock.now += 60.0  # loading a model before the first item
    time_left = TimeLeft(clock)
    time_left.update(0, 4)
    clock.now += 3 * 1.5

    assert time_left.update(3, 4) == 1.5


def test_time_left_restarts_on_new_total():
    clock = FakeClock()
    time_left = TimeLeft(clock)
    time_left.update(0, 10)
    clock.now += 30.0
    time_left.update(5, 10)
    # The next stage counts other items at another rate.
    assert time_left.update(0, 200) is None
    clock.now += 3.0
    assert time_left.update(3, 200) == 197.0


def test_clock_text():
    assert clock_text(5) == "0:05"
    assert clock_text(125.4) == "2:05"
    assert clock_text(3725) == "1:02:05"
