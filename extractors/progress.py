"""A rich progress bar showing utterances/s and audio-seconds/s."""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class ExtractionProgress:
    """Context manager: ``advance(utterances, audio_seconds)`` after each batch."""

    def __init__(self, name: str, total: int, *, enabled: bool | None = None) -> None:
        console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[utt_rate]:>7.1f} utt/s"),
            TextColumn("{task.fields[audio_rate]:>8.1f} audio-s/s"),
            TimeElapsedColumn(),
            console=console,
            disable=not (sys.stderr.isatty() if enabled is None else enabled),
        )
        self._task = self._progress.add_task(
            f"extract {name}", total=total, utt_rate=0.0, audio_rate=0.0
        )
        self.utterances = 0
        self.audio_seconds = 0.0
        self._start = time.perf_counter()

    def __enter__(self) -> ExtractionProgress:
        self._start = time.perf_counter()
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    @property
    def elapsed(self) -> float:
        return max(time.perf_counter() - self._start, 1e-9)

    def advance(self, utterances: int, audio_seconds: float) -> None:
        self.utterances += utterances
        self.audio_seconds += audio_seconds
        self._progress.update(
            self._task,
            advance=utterances,
            utt_rate=self.utterances / self.elapsed,
            audio_rate=self.audio_seconds / self.elapsed,
        )
