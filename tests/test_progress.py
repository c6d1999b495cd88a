"""The one progress look of every command: tqdm bars on a terminal, plain lines in logs, silence when quiet."""

import io

from joyvasa.runtime import progress as progress_module
from joyvasa.runtime.progress import Progress, format_seconds


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_when_the_stream_is_not_a_terminal():
    stream = io.StringIO()
    stages = Progress(stream=stream).stages(units={"render": "frame"})
    for done in range(1, 4):
        stages("source", done, 3)
    for done in range(1, 68):
        stages("render", done, 67)
    stages.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "source: started (3 steps)"
    assert lines[1].startswith("source: 3/3 steps, ") and lines[1].endswith("(done)")
    assert lines[2] == "render: started (67 frames)"
    assert lines[3].startswith("render: 67/67 frames, ") and "elapsed" in lines[3] and "frames/s" in lines[3]
    assert len(lines) == 4  # fast stages: no lines between start and end


def test_plain_lines_report_time_left_and_rate_while_running(monkeypatch):
    clock = iter(float(t) for t in range(0, 1000, 6))  # each reading of the clock: 6 s later
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: next(clock))
    stream = io.StringIO()
    with Progress(stream=stream).bar("render", total=10, unit="frame") as bar:
        for _ in range(4):
            bar.update()
    lines = stream.getvalue().splitlines()
    middle = [line for line in lines[1:-1]]
    assert middle and all("left" in line and "s/frame" in line for line in middle)


def test_a_terminal_gets_tqdm_bars():
    stream = FakeTerminal()
    stages = Progress(stream=stream).stages(units={"render": "frame"})
    for done in range(1, 6):
        stages("render", done, 5)
    stages.close()
    text = stream.getvalue()
    assert "\r" in text and "render: 100%" in text and "5/5" in text


def test_quiet_prints_nothing():
    stream = FakeTerminal()
    progress = Progress(quiet=True, stream=stream)
    stages = progress.stages()
    stages("motion", 1, 2)
    stages("motion", 2, 2)
    with progress.bar("train", total=3) as bar:
        bar.update(3)
        bar.write("a report line")
    assert stream.getvalue() == ""


def test_seconds_read_like_a_clock():
    assert format_seconds(3.24) == "3.2 s"
    assert format_seconds(75) == "1:15"
    assert format_seconds(3725) == "1:02:05"


def test_a_stage_is_timed_from_the_end_of_the_one_before(monkeypatch):
    """The pipeline reports a stage after its first item: that item's time still counts."""
    now = [0.0]
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: now[0])
    stream = io.StringIO()
    stages = Progress(stream=stream).stages(units={"render": "frame", "audio": "window"})
    now[0] = 2.0
    stages("audio", 1, 1)  # one window, 2 s, reported once when done
    now[0] = 6.0
    stages("render", 1, 2)
    now[0] = 10.0
    stages("render", 2, 2)
    lines = stream.getvalue().splitlines()
    assert lines[:2] == ["audio: started (1 window)", "audio: 1/1 window, 2.0 s elapsed, 2.00 s/window (done)"]
    assert lines[3] == "render: 2/2 frames, 8.0 s elapsed, 4.00 s/frame (done)"


def test_a_stage_left_early_says_stopped_not_done():
    stream = io.StringIO()
    stages = Progress(stream=stream).stages(units={"render": "frame"})
    stages("render", 5, 67)
    stages.close()  # what the command does when an error ends the run
    last = stream.getvalue().splitlines()[-1]
    assert last.startswith("render: 5/67 frames, ") and last.endswith("(stopped)")
