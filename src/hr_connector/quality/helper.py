"""The costliest row checks of a large file in a helper process, on the machine's other core.

On a work-period file checked in full (no previous run to check it incrementally against),
three parts of the checks cost seconds of Python at a million rows and need only a few columns:
python-stdnum validating every distinct national ID (~3 s), the overlapping work periods
(~2 s), and the BLAKE2b fingerprints of every distinct person kept for the other data types'
manager references (~1 s). Right after the file is parsed, :func:`start` has a helper process
(``python -m hr_connector.quality.helper``) read the same file with the same reader and do
them, while this process validates the rows and runs the other checks; the checks then take
its :class:`Answer` (:meth:`Job.answer`).

The helper computes exactly what this process would, with the same functions, on the same rows
(it checks it read as many rows with the same columns). When it cannot run (no process can be
started, it failed, it took too long) :meth:`Job.answer` is None and the checks do the work
here, so a run never depends on it. A small file is checked here (a process start and a second
read cost more than they save). Nothing goes through the pipe but the job (a path, column names,
settings) and the answer (invalid national IDs, row pairs, fingerprints); neither process logs
a value, and the helper's own error output is never shown (it could quote one).
"""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
import threading
import weakref
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from collections.abc import Callable

    from hr_connector.records import Table

log = logging.getLogger("hr_connector.quality")

#: Smaller files (~50,000 rows) are checked in this process.
MIN_BYTES = 10_000_000
#: Seconds a job may take per 10 MB of file, and at least, before it is given up.
SECONDS_PER_10MB = 10
MIN_TIMEOUT = 60.0
#: Set to "0" to check everything in this process (the tests compare the two).
ENV = "HR_CONNECTOR_QUALITY_HELPER"


@dataclass(frozen=True)
class FileJob:
    """What the helper is asked: which file, read how, and which parts of the checks. Column
    names are the parameters' spelling; the helper matches them to the header as the run does
    and says which it used (:meth:`Answer.fits`)."""

    path: str
    delimiter: str
    #: {"column", "module" (python-stdnum), "today"}: the invalid national IDs' codes
    national_ids: dict[str, str] | None = None
    #: {"person", "start", "end" (or ""), "date_formats"}: the overlapping rows
    overlaps: dict[str, Any] | None = None
    #: the person column: the sorted fingerprints of every distinct person
    fingerprints: str = ""


@dataclass(repr=False)
class Answer:
    """What the helper found for the checks (None: that part was not asked)."""

    #: the helper's table: its row count and header, and the column each asked name matched
    rows: int
    header: list[str]
    names: dict[str, str]
    codes: dict[str, str] | None = None
    pairs: list[tuple[int, int]] | None = None

    def __repr__(self) -> str:  # never the values: they are national IDs
        return f"Answer(rows={self.rows}, codes={self.codes is not None})"

    def fits(self, table: Table, names: dict[str, str]) -> bool:
        """Whether the helper read this table and the columns the run reads (``names``: the
        asked name -> the run's column): else its answer is not used."""
        same = self.rows == len(table.rows) and self.header == table.columns
        return same and all(self.names.get(k, v) == v for k, v in names.items())


class _Output:
    """The helper's output as it comes (read by a thread that holds no :class:`Job`, so a job
    nobody asks any more is collected and its process ended)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.head = b""
        self.rest = b""
        self.answered = threading.Event()
        self.ended = threading.Event()

    def read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            self.head = stdout.readline()
            self.answered.set()
            self.rest = stdout.read()
            self.process.wait()
        except (OSError, ValueError):  # killed and closed meanwhile
            pass
        finally:
            self.answered.set()
            self.ended.set()


class Job:
    """One job in a helper process.

    The helper answers in two parts: the checks' :class:`Answer` (one JSON line) as soon as it
    has it, then the fingerprints, which only the end of a completed run needs
    (:meth:`fingerprints`). A thread reads both as they come, so neither side waits on a full
    pipe.
    """

    def __init__(
        self, process: subprocess.Popen[bytes], asked: FileJob, canonical: dict[str, str]
    ) -> None:
        self._process = process
        #: what the helper was asked (the checks do the rest)
        self.asked = asked
        #: each column name asked -> its canonical name (the run's column is the schema's)
        self.canonical = canonical
        size = Path(asked.path).stat().st_size
        self._timeout = max(MIN_TIMEOUT, SECONDS_PER_10MB * size / 10_000_000)
        self._output = _Output(process)
        self._answered = False
        self._answer_read: Answer | None = None
        threading.Thread(target=self._output.read, name="quality-helper", daemon=True).start()
        # a job whose answers are never asked for (the run stopped first) ends with it
        weakref.finalize(self, _end, process)

    def __repr__(self) -> str:
        return f"Job(pid={self._process.pid})"

    def answer(self, table: Table, names: dict[str, str]) -> Answer | None:
        """The checks' part, when it fits ``table`` and ``names`` (:meth:`Answer.fits`); None:
        it does not, or the helper failed or took too long (check here)."""
        answer = self._answer()
        return answer if answer is not None and answer.fits(table, names) else None

    def fingerprints(self, table: Table, names: dict[str, str]) -> bytes | None:
        """Every distinct person's fingerprint (``archives.sorted_fingerprints``), when the
        answer fits ``table`` and ``names``; else None."""
        from hr_connector.quality.archives import PERSON_DIGEST

        output = self._output
        if not self.asked.fingerprints or self.answer(table, names) is None:
            return None
        if not output.ended.wait(self._timeout):
            return self._give_up()
        if self._process.returncode != 0 or len(output.rest) % PERSON_DIGEST:
            return self._failed()
        return output.rest

    def _answer(self) -> Answer | None:
        if not self._answered:  # waited for, parsed and judged once
            self._answered = True
            self._answer_read = self._read_answer()
        return self._answer_read

    def _read_answer(self) -> Answer | None:
        output = self._output
        if not output.answered.wait(self._timeout):
            return self._give_up()
        if not output.head.endswith(b"\n"):  # it ended without answering
            return self._failed()
        found = orjson.loads(output.head)
        pairs = found.get("pairs")
        return Answer(
            rows=found["rows"],
            header=found["header"],
            names=found["names"],
            codes=found.get("codes"),
            pairs=None if pairs is None else [(i, j) for i, j in pairs],
        )

    def close(self) -> None:
        """End the helper now (its answers are not needed)."""
        _end(self._process)

    def _give_up(self) -> None:
        _end(self._process)
        log.warning("Data quality: the helper process took too long; checking here instead")

    def _failed(self) -> None:
        self._process.wait()
        log.warning(
            "Data quality: the helper process failed (exit code %s); checking here instead",
            self._process.returncode,
        )


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.returncode is None:
        process.kill()
        process.wait()


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def command() -> list[str]:
    """The helper process's command line: this module, run by this Python."""
    return [sys.executable, "-m", __name__]


def start(job: FileJob, canonical: dict[str, str]) -> Job | None:
    """Start ``job`` in a helper process (``canonical``: each column name asked -> its
    canonical name); None: check here (a small file, one core only, the helper switched off,
    or no process could be started).

    On one core the helper would only compete with the run and add its second read of the file
    (1M rows under ``taskset -c 0``: 36.6 s with it, 30.3 s without).
    """
    if not enabled() or usable_cores() < 2 or Path(job.path).stat().st_size < MIN_BYTES:
        return None
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    try:
        process = subprocess.Popen(
            command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # it could quote a value
            env=env,
        )
        assert process.stdin is not None
        process.stdin.write(orjson.dumps(job))  # a few hundred bytes: the pipe takes them
        process.stdin.close()
    except OSError as exc:
        log.warning("Data quality: no helper process (%s); checking here instead", exc.strerror)
        return None
    process.stdin = None  # written and closed: not communicate()'s to flush
    return Job(process, job, canonical)


def run(job: FileJob) -> None:
    """The helper process's side: read the file as the run does and answer the job."""
    from hr_connector.header import header_spelling
    from hr_connector.quality.archives import sorted_fingerprints
    from hr_connector.readers import read_table

    table = read_table(Path(job.path), delimiter=job.delimiter)
    index = table.column_index()
    asked = [job.fingerprints]
    if job.national_ids:
        asked.append(job.national_ids["column"])
    if job.overlaps:
        asked += [job.overlaps["person"], job.overlaps["start"], job.overlaps["end"]]
    names = {n: header_spelling(n, table.columns) for n in asked if n}
    found: dict[str, Any] = {"rows": len(table.rows), "header": table.columns, "names": names}
    read = [n for n in dict.fromkeys(names.values()) if n]
    columns = dict(zip(read, table.columns_at([index[n] for n in read]), strict=True))
    columns[""] = None
    del table

    def column(name: str) -> Any:
        return columns[names.get(name, "")]

    # a part whose columns the file lacks is not answered (the run does not check it either)
    if job.national_ids and names[job.national_ids["column"]]:
        found["codes"] = _national_codes(job.national_ids, column(job.national_ids["column"]))
    if job.overlaps and names[job.overlaps["person"]] and names[job.overlaps["start"]]:
        found["pairs"] = _overlapping(job.overlaps, column)
    out = sys.stdout.buffer
    out.write(orjson.dumps(found) + b"\n")  # the checks wait for this part
    out.flush()
    if job.fingerprints and names[job.fingerprints]:  # the end of a run only needs these
        out.write(sorted_fingerprints(set(column(job.fingerprints))))
    out.flush()


def _national_codes(asked: dict[str, str], values: Any) -> dict[str, str]:
    import importlib

    from hr_connector.quality.national_ids import invalid_codes

    if not asked["module"].startswith("stdnum."):
        raise ValueError("not a python-stdnum module")
    module = importlib.import_module(asked["module"])
    return invalid_codes(module, set(values), date.fromisoformat(asked["today"]))


def _overlapping(asked: dict[str, Any], column: Callable[[str], Any]) -> list[tuple[int, int]]:
    from hr_connector.quality.overlaps import overlapping
    from hr_connector.validate import DateParser

    ends = column(asked["end"])  # None: the file has no end dates
    parse = DateParser(asked["date_formats"])
    return overlapping(column(asked["person"]), column(asked["start"]), ends, parse)


def main() -> int:
    gc.disable()  # a short life with a million live rows: the collector would only rescan them
    run(FileJob(**orjson.loads(sys.stdin.buffer.read())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
