"""fairgate.progress: a percentage and an ETA, no more often than asked."""
from fairgate.progress import Progress


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_lines_are_rate_limited_and_carry_percentage_and_eta():
    clock, lines = _Clock(), []
    progress = Progress("ExampleGen: split train", total=1000, unit="faces",
                        every_seconds=5, clock=clock, log=lines.append)
    for _ in range(9):  # 9 updates within 4.5 s: no line yet
        clock.now += 0.5
        progress.advance(10)
    assert lines == []
    clock.now = 10.0
    progress.advance(160)  # 250 of 1000 after 10 s; 240 in the 9.5 s since the
    # first unit (start-up before it does not count): 750 more take ~30 s
    assert lines == ["Progress: ExampleGen: split train: 25% (250/1,000 faces), 10s, "
                     "ETA 30s"]
    clock.now = 12.0
    progress.advance(10)  # 2 s after the last line: silent
    assert len(lines) == 1
    clock.now = 80.0
    progress.advance(740)
    progress.done()
    assert lines[-1] == "Progress: ExampleGen: split train: 100% (1,000/1,000 faces), 1m20s"


def test_start_up_before_the_first_unit_does_not_skew_the_eta():
    clock, lines = _Clock(), []
    progress = Progress("Trainer: training", total=1000, unit="steps",
                        every_seconds=5, clock=clock, log=lines.append)
    clock.now = 7.0  # the first step compiles for 7 s
    progress.advance()
    assert lines == []  # no rate is known yet: no line
    for _ in range(160):  # then 64 steps a second (exact in binary)
        clock.now += 1 / 64
        progress.advance()
    # 839 steps left at 64/s: 13 s (counting from the start: 59 s).
    assert lines == ["Progress: Trainer: training: 16% (161/1,000 steps), 10s, ETA 13s"]


def test_unknown_total_counts_without_eta():
    clock, lines = _Clock(), []
    progress = Progress("reading", total=0, clock=clock, log=lines.append)
    clock.now = 1.0
    progress.advance(2)
    clock.now = 6.0
    progress.advance(40)
    assert lines == ["Progress: reading: 42 items, 6s"]
