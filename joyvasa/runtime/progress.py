"""How progress looks on the command line: the one place every command asks.

On a terminal each stage gets a tqdm bar on stderr (count, elapsed, time left, rate).
When stderr is not a terminal (a CI log, a pipe, a file) the bars collapse to plain
lines: one when a stage starts, one about every ``PLAIN_EVERY_SECONDS`` while it runs,
and one when it ends, so a log stays readable and short. ``bars=False`` (``--no-progress``)
shows no bars or progress lines but keeps the command's report lines (:meth:`Progress.write`);
``quiet`` (``--quiet``) prints nothing here: only the command's own final line (made with
:func:`final_line`) appears. Every command declares both flags with :func:`add_progress_flags`
and builds its look with :meth:`Progress.from_args`.

    progress = Progress.from_args(args)            # --quiet, --no-progress (add_progress_flags)
    with progress.bar("render", total=67, unit="frame") as bar:
        bar.update(1)                              # or bar.set(done, total)
    callback = progress.stages(units={"render": "frame"})   # a pipeline's (stage, done, total)
    ...
    callback.close()
"""

from __future__ import annotations

import sys
import time
from typing import IO, Callable, Optional, Union

PLAIN_EVERY_SECONDS = 10.0  # plain-line mode: at most one line per stage this often (and at 100 %)


def is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):  # a closed or odd stream
        return False


def format_seconds(seconds: float) -> str:
    """3.2 -> '3.2 s'; 75 -> '1:15'; 3725 -> '1:02:05'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Bar:
    """One stage's progress: a tqdm bar, plain lines, or nothing (quiet)."""

    def __init__(self, desc: str, total: Optional[int], unit: str, stream: IO, mode: str, initial: int = 0,
                 started: Optional[float] = None):
        self.desc, self.total, self.unit, self.stream, self.mode = desc, total, unit, stream, mode
        self.n = initial
        self._initial = initial
        # ``started``: when the work began (a stage whose first report comes after its first item)
        self._started = time.perf_counter() if started is None else started
        self._last_line = None  # time of the last plain line
        self._closed = False
        self._tqdm = None
        self.postfix: dict[str, str] = {}
        if mode == "bar":
            from tqdm import tqdm

            self._tqdm = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=stream,
                              dynamic_ncols=True, leave=True)
            self._tqdm.start_t -= time.perf_counter() - self._started  # tqdm's own clock, moved back as far
        elif mode == "plain":
            self._line(started=True)

    @property
    def shown(self) -> bool:
        """Whether this bar is drawn (as a bar or as plain lines)."""
        return self.mode in ("bar", "plain")

    # -- counting -------------------------------------------------------------------------
    def update(self, count: int = 1) -> None:
        self.set(self.n + count)

    def set(self, done: int, total: Optional[int] = None) -> None:
        """Absolute progress (a callback's ``(done, total)``)."""
        if total is not None and total != self.total:
            self.total = total
            if self._tqdm is not None:
                self._tqdm.total = total
                self._tqdm.refresh()
        step = done - self.n
        self.n = done
        if self._tqdm is not None:
            self._tqdm.update(step)
        elif self.mode == "plain":
            now = time.perf_counter()
            finished = self.total is not None and done >= self.total
            if not finished and now - (self._last_line or self._started) >= PLAIN_EVERY_SECONDS:
                self._line()

    def set_postfix(self, **values) -> None:
        """Figures shown after the count (a training loss): on the bar, and in the plain lines."""
        self.postfix = {name: str(value) for name, value in values.items()}
        if self._tqdm is not None:
            self._tqdm.set_postfix(self.postfix, refresh=False)

    def write(self, message: str) -> None:
        """A report line that does not break the bar."""
        _write(message, self.stream, self.mode)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._tqdm is not None:
            self._tqdm.close()
        elif self.mode == "plain":
            self._line(done=True)

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- plain lines ----------------------------------------------------------------------
    def _units(self, count: int) -> str:
        return self.unit if count == 1 else f"{self.unit}s"

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._started

    def rate(self) -> float:
        """Items per second over this bar's life (items counted since it opened)."""
        return (self.n - self._initial) / self.elapsed if self.elapsed > 0 else 0.0

    def _line(self, started: bool = False, done: bool = False) -> None:
        self._last_line = time.perf_counter()
        if started:
            size = f" ({self.total} {self._units(self.total)})" if self.total else ""
            print(f"{self.desc}: started{size}", file=self.stream, flush=True)
            return
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        parts = [f"{self.desc}: {count} {self._units(self.total or self.n)}", f"{format_seconds(self.elapsed)} elapsed"]
        rate = self.rate()
        if not done and self.total and rate > 0:
            parts.append(f"~{format_seconds((self.total - self.n) / rate)} left")
        if rate > 0:
            parts.append(f"{rate:.2f} {self.unit}s/s" if rate >= 1 else f"{1 / rate:.2f} s/{self.unit}")
        parts.extend(f"{name} {value}" for name, value in self.postfix.items())
        ending = ""
        if done:  # closed: finished, or left early (an error, Ctrl-C)
            ending = " (done)" if self.total is None or self.n >= self.total else " (stopped)"
        print(", ".join(parts) + ending, file=self.stream, flush=True)


class StageBars:
    """A ``(stage, done, total)`` callback that opens one bar per stage as stages change."""

    def __init__(self, progress: "Progress", units: Optional[dict] = None):
        self.progress, self.units = progress, dict(units or {})
        self.current: Optional[Bar] = None
        self.bars: dict[str, Bar] = {}  # every stage's bar, kept for its timings
        # A stage's first report comes after its first item: its clock starts when the one before ended.
        self._since = time.perf_counter()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.current is None or self.current.desc != stage:
            self.close()
            self.current = self.progress.bar(stage, total=total, unit=self.units.get(stage, "step"),
                                             started=self._since)
            self.bars[stage] = self.current
        self.current.set(done, total)
        if total and done >= total:
            self.close()

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None
            self._since = time.perf_counter()


class Progress:
    """Chooses the look once (bars on a terminal, plain lines elsewhere, nothing when quiet).

    Modes: "bar", "plain", "off" (no bars; report lines still printed), "quiet" (nothing).
    """

    def __init__(self, *, quiet: bool = False, stream: Optional[IO] = None, plain: Optional[bool] = None,
                 bars: bool = True):
        self.stream = stream if stream is not None else sys.stderr
        if quiet:
            self.mode = "quiet"
        elif not bars:
            self.mode = "off"
        elif plain is None:
            self.mode = "bar" if is_terminal(self.stream) else "plain"
        else:
            self.mode = "plain" if plain else "bar"

    def bar(self, desc: str, total: Optional[int] = None, unit: str = "step", initial: int = 0,
            started: Optional[float] = None) -> Bar:
        return Bar(desc, total, unit, self.stream, self.mode, initial=initial, started=started)

    def stages(self, units: Optional[dict] = None) -> StageBars:
        return StageBars(self, units)

    def callback(self, bar: Bar) -> Callable[[int, int], None]:
        """``(done, total)`` callback feeding ``bar``."""
        return lambda done, total: bar.set(done, total)

    def write(self, message: str, file: Optional[IO] = None) -> None:
        """A report line (to ``file``, default this progress's stream) that does not break an open
        bar; nothing when quiet."""
        _write(message, file if file is not None else self.stream, self.mode)

    @classmethod
    def from_args(cls, args, stream: Optional[IO] = None) -> "Progress":
        """The look the flags of :func:`add_progress_flags` ask for."""
        return cls(quiet=args.quiet, bars=not args.no_progress, stream=stream)

    @classmethod
    def of(cls, value: Union[bool, "Progress"]) -> "Progress":
        """A library function's ``progress`` argument: a Progress, or True (the look chosen by
        the stream) / False (no bars; report lines still go through)."""
        return value if isinstance(value, Progress) else cls(bars=bool(value))


def add_progress_flags(parser) -> None:
    """``--quiet`` and ``--no-progress``, the same on every command (declared here once)."""
    group = parser.add_argument_group("progress")
    group.add_argument("--quiet", "-q", action="store_true",
                       help="print only the final line (what was written, how long it took)")
    group.add_argument("--no-progress", action="store_true",
                       help="no progress bars or progress lines; report lines and the final line stay")


def _write(message: str, stream: IO, mode: str) -> None:
    if mode == "quiet":
        return
    if mode == "bar":
        from tqdm import tqdm

        tqdm.write(message, file=stream)  # clears the open bars, writes, draws them again
    else:
        print(message, file=stream, flush=True)


def final_line(*parts: str) -> str:
    """The one summary line a command prints last (on stdout), parts joined by ', '."""
    return ", ".join(p for p in parts if p)


def seconds_per(seconds: float, count: int, unit: str = "frame") -> str:
    """'0.42 s/frame' (blank when nothing was counted)."""
    return f"{seconds / count:.2f} s/{unit}" if count else ""
