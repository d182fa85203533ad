"""End-to-end mode of the benchmark: the day a user meets, side by side in one run.

    .venv/bin/python bench/run.py --e2e [--sizes 1M] [--repeat 3] [--sftp-mb 100] [--rtt-ms 20]

What runs (all on this machine, every compared pair measured alternately in the same run):

* a real OpenSSH ``sshd`` (tests/sshd.py) and ``/work/shared/tools/latency_proxy.py`` in front of
  it adding ``--rtt-ms`` of round trip; the local ESM (``hr-connector esm-sandbox``) on loopback
  HTTP in its own process;
* **SFTP**: a ``--sftp-mb`` MB file downloaded by the connector (``download_hr_file``: connect,
  verify, log in, pipelined reads, size/mtime check, fsync, rename; timed inside a fresh process)
  and by OpenSSH's ``sftp`` (``get``, timed around the process), plain loopback and through the
  proxy;
* **the day through the wrapper**: ``deployments/epe/IGAConnector.py`` as the engine runs it (a
  process, parameters in a file), full run of the day before, then the partial run of the next
  day, the admin task and its attachments filed to the ESM (``report_attachment_max_mb`` at its
  default); each timed around the process with its peak RSS from ``wait4``; the same partial run
  with the file fetched over SFTP through the proxy, next to OpenSSH's ``sftp`` fetching the same
  file; the bare ``csv.reader`` pass and the connector's own work (plain steps, no ESM) as in the
  standard mode.

Each wrapper run must exit 0 and leave exactly one new datacard in the ESM, else the benchmark
stops: "the admin task filed every time" is checked, not assumed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(BENCH))

import generate  # noqa: E402

WRAPPER = REPO / "deployments" / "epe" / "IGAConnector.py"
ESM_PASSWORD = "bench-esm-password"
MB = 1024 * 1024

#: Targets (ratios: lower is better for times, higher for throughput).
TARGETS = {
    "sftp_loopback": 0.70,
    "sftp_rtt": 0.80,
    "partial_e2e": 2.0,
    "full_e2e": 5.0,
    "partial_own": 1.5,
    "full_own": 4.0,
    "peak_mb": 800.0,
}


def latency_proxy_script() -> Path:
    candidates = [
        Path(os.environ.get("LATENCY_PROXY", "/nonexistent")),
        REPO.parent / "shared" / "tools" / "latency_proxy.py",
        REPO.parent.parent / "shared" / "tools" / "latency_proxy.py",
        Path("/work/shared/tools/latency_proxy.py"),
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise SystemExit("latency_proxy.py not found; set LATENCY_PROXY to its path")


# --- services ------------------------------------------------------------------------------------


@contextlib.contextmanager
def latency_proxy(target_port: int, rtt_ms: float) -> Iterator[int]:
    import sshd as sshd_mod

    port = sshd_mod.free_port()
    proc = subprocess.Popen(
        [sys.executable, str(latency_proxy_script()), str(port), str(target_port), str(rtt_ms / 2)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError):
                import socket

                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the latency proxy did not start")
            time.sleep(0.1)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


@contextlib.contextmanager
def esm_sandbox(root: Path) -> Iterator[tuple[str, Path]]:
    import sshd as sshd_mod

    port = sshd_mod.free_port()
    env = {**os.environ, "ESM_SANDBOX_PASSWORD": ESM_PASSWORD}
    log = (root / "esm.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "esm_sandbox",
            "--dir",
            str(root / "esm"),
            "--port",
            str(port),
            "--user",
            "bench",
            "--max-upload-bytes",
            str(64 * MB),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        import urllib.request

        while True:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url + "/", timeout=2).close()
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the ESM sandbox did not start; see {root / 'esm.log'}")
            time.sleep(0.2)
        yield url, root / "esm" / "datacards"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


# --- measurements ---------------------------------------------------------------------------------


def timed_process(argv: list[str], **kwargs: Any) -> tuple[float, float, subprocess.Popen[bytes]]:
    """Wall seconds and peak RSS (MB, from wait4) of one process run to its end."""
    began = time.perf_counter()
    proc = subprocess.Popen(argv, **kwargs)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024, proc


def openssh_get(
    server: Any, key: Path, known_hosts: Path, port: int, remote: Path, local: Path
) -> float:
    """Seconds for OpenSSH's ``sftp`` to ``get`` ``remote`` (process start to end)."""
    local.unlink(missing_ok=True)
    batch = local.with_suffix(".batch")
    batch.write_text(f"get {remote} {local}\n")
    seconds, _, proc = timed_process(
        [
            "sftp",
            "-q",
            "-b",
            str(batch),
            "-i",
            str(key),
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "BatchMode=yes",
            "-P",
            str(port),
            f"{server.user.name}@127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if proc.returncode != 0 or local.stat().st_size != remote.stat().st_size:
        raise RuntimeError(f"OpenSSH sftp get failed ({proc.returncode})")
    local.unlink()
    return seconds


CONNECTOR_GET = """
import json, sys, time
from pathlib import Path
from hr_connector.clients import sftp
from hr_connector.params import SftpSettings
from hr_connector.workdir import WorkDir
settings = SftpSettings.model_validate(json.loads(sys.argv[1]))
began = time.perf_counter()
path = sftp.download_hr_file(settings, WorkDir(Path(sys.argv[2]), "1", "workperiod"), sys.argv[3])
print("RESULT", json.dumps({"seconds": time.perf_counter() - began, "size": path.stat().st_size}))
"""


def connector_get(settings: dict[str, Any], workdir: Path, pattern: str) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", CONNECTOR_GET, json.dumps(settings), str(workdir), pattern],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=REPO,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return float(json.loads(line[7:])["seconds"])
    raise RuntimeError(f"connector download failed:\n{proc.stderr[-3000:]}")


def wrapper_run(workdir: Path, params: dict[str, Any], datacards: Path) -> dict[str, Any]:
    """One IGAConnector.py run as the engine runs it; checks that the admin task was filed."""
    before = len(list(datacards.glob("*.json"))) if datacards.exists() else 0
    params_file = workdir / "params.json"
    params_file.write_text(json.dumps(params), encoding="utf-8")
    out = (workdir / "wrapper.out").open("wb")
    err = (workdir / "wrapper.err").open("wb")
    try:
        seconds, peak, proc = timed_process(
            [sys.executable, str(WRAPPER), "--params", str(params_file), "--workdir", str(workdir)],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            env={k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")},
        )
    finally:
        out.close()
        err.close()
    params_file.unlink()
    if proc.returncode != 0:
        raise RuntimeError(
            f"the wrapper exited {proc.returncode}:\n"
            + (workdir / "wrapper.err").read_text()[-3000:]
        )
    cards = sorted(datacards.glob("*.json"), key=lambda p: int(p.stem))
    if len(cards) != before + 1:
        raise RuntimeError(f"the admin task was not filed ({len(cards) - before} new datacards)")
    card = json.loads(cards[-1].read_text(encoding="utf-8"))
    files = card.get("files", {}).get("attachments", [])
    sizes = sum((datacards.parent / "files" / card_id(card) / n).stat().st_size for n in files)
    return {"seconds": seconds, "peak_mb": peak, "attached": files, "attached_bytes": sizes}


def card_id(card: dict[str, Any]) -> str:
    return str(card.get("dataCardId") or card.get("id"))


# --- the whole mode ----------------------------------------------------------------------------


def run_e2e(
    sizes: list[str],
    repeat: int,
    sftp_mb: int,
    rtt_ms: float,
    measure: Callable[[dict[str, Any]], dict[str, Any]],
    skip_day: bool = False,
) -> dict[str, Any]:
    import sshd as sshd_mod

    if shutil.which("sftp") is None or sshd_mod.unavailable_reason():
        raise SystemExit(f"needs OpenSSH: {sshd_mod.unavailable_reason() or 'no sftp client'}")
    results: dict[str, Any] = {"sftp_mb": sftp_mb, "rtt_ms": rtt_ms, "repeat": repeat}
    generate.OUT.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="e2e-", dir=generate.OUT))
    try:
        with sshd_mod.running_sshd() as server:
            key = sshd_mod.keygen(server.base / "client_key")
            server.authorize(key)
            data = server.new_dir("workperiod")
            big = data / "big.csv"
            with big.open("wb") as fh:
                for _ in range(sftp_mb):
                    fh.write(os.urandom(MB))
            os.chown(big, server.user.uid, server.user.gid)
            with latency_proxy(server.port, rtt_ms) as proxy_port:
                known = server.base / "known_hosts"
                server.write_known_hosts(known, proxy_port)

                def settings(port: int) -> dict[str, Any]:
                    return {
                        "sftp_server_fqdn": "127.0.0.1",
                        "sftp_server_ssh_port_number": port,
                        "sftp_username": server.user.name,
                        "sftp_remote_path_data": str(data),
                        "sftp_known_hosts": str(known),
                        "sftp_private_key_path": str(key),
                        "sftp_timeout_seconds": 60,
                    }

                sftp_runs: dict[str, list[float]] = {}
                for label, port in (("loopback", server.port), ("rtt", proxy_port)):
                    ours, theirs = [], []
                    for _ in range(repeat):
                        theirs.append(
                            openssh_get(server, key, known, port, big, scratch / "openssh.bin")
                        )
                        work = scratch / f"dl-{label}"
                        ours.append(connector_get(settings(port), work, "./workperiod/big.csv"))
                        shutil.rmtree(work)
                    sftp_runs[f"{label}_connector"] = ours
                    sftp_runs[f"{label}_openssh"] = theirs
                    print(f"SFTP {label}: connector {ours}, OpenSSH {theirs}", flush=True)
                results["sftp"] = sftp_runs
                big.unlink()
                if not skip_day:
                    results["days"] = {
                        size: day(
                            size,
                            repeat,
                            scratch,
                            server,
                            data,
                            known,
                            key,
                            proxy_port,
                            settings,
                            measure,
                        )
                        for size in sizes
                    }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def day(
    size: str,
    repeat: int,
    scratch: Path,
    server: Any,
    data: Path,
    known: Path,
    key: Path,
    proxy_port: int,
    settings: Callable[[int], dict[str, Any]],
    measure: Callable[[dict[str, Any]], dict[str, Any]],
) -> dict[str, list[Any]]:
    generate_apart(size)
    base = generate.file_path(size, "base", "csv")
    next_day = generate.file_path(size, "next_day", "csv")
    remote = data / next_day.name
    shutil.copyfile(next_day, remote)
    os.chown(remote, server.user.uid, server.user.gid)
    runs: dict[str, list[Any]] = {
        k: []
        for k in (
            "bare_base",
            "bare_next",
            "own_full",
            "own_partial",
            "e2e_full",
            "e2e_partial",
            "e2e_partial_sftp",
            "openssh_next",
        )
    }
    with esm_sandbox(scratch) as (url, datacards):
        esm = {
            "webapi_url": url,
            "webapi_user": "bench",
            "webapi_password": ESM_PASSWORD,
            "report_template_code": "IGAWorkflowTaskInformation",
        }
        common = {"data_type": "workperiod", "update_limit": 1_000_000_000, "taskid": 7, **esm}
        for n in range(repeat):
            runs["bare_base"].append(measure({"what": "bare", "kind": "csv", "path": str(base)}))
            runs["bare_next"].append(
                measure({"what": "bare", "kind": "csv", "path": str(next_day)})
            )
            own = scratch / f"own-{n}"
            _place(own, base)
            spec = {"what": "run", "engine": "plain", "fmt": "csv", "workdir": str(own)}
            runs["own_full"].append(measure({**spec, "run_type": "full"}))
            _place(own, next_day)
            runs["own_partial"].append(measure({**spec, "run_type": "partial"}))
            shutil.rmtree(own)

            local = scratch / f"local-{n}"
            _place(local, base)
            params = {**common, "file_path": "in/*.csv"}
            runs["e2e_full"].append(wrapper_run(local, {**params, "run_type": "full"}, datacards))
            over_sftp = scratch / f"sftp-{n}"
            # the day before's files, untimed; hard links keep the archive's inode, so its index
            # stays valid (a copy would send the run down the slow path); runs replace files by
            # rename, so the partial run in ``local`` does not change these
            shutil.copytree(local, over_sftp, copy_function=os.link)
            shutil.rmtree(over_sftp / "in")
            _place(local, next_day)
            runs["e2e_partial"].append(
                wrapper_run(local, {**params, "run_type": "partial"}, datacards)
            )
            shutil.rmtree(local)
            runs["openssh_next"].append(
                openssh_get(server, key, known, proxy_port, remote, scratch / "openssh.csv")
            )
            sftp_params = {
                **common,
                **settings(proxy_port),
                "file_path": "workperiod/*.csv",
                "run_type": "partial",
            }
            runs["e2e_partial_sftp"].append(wrapper_run(over_sftp, sftp_params, datacards))
            shutil.rmtree(over_sftp)
            print(
                f"{size} e2e repeat {n + 1}: " + json.dumps({k: v[-1] for k, v in runs.items()}),
                flush=True,
            )
    remote.unlink()
    return runs


def generate_apart(size: str) -> None:
    """Make the data in another process: Linux carries a parent's peak RSS into the children it
    starts (``wait4``/``ru_maxrss`` would report the generator's 1M rows for every run)."""
    subprocess.run(
        [sys.executable, str(BENCH / "generate.py"), "--sizes", size], check=True, timeout=3600
    )


def _place(workdir: Path, source: Path) -> None:
    folder = workdir / "in"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    os.link(source, folder / source.name)


# --- reporting ------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values) if values else float("nan")


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """Medians and the ratios the issue's targets are stated in."""
    mb = results["sftp_mb"]
    sftp = results["sftp"]
    out: dict[str, Any] = {"sftp": {}, "days": {}}
    for label in ("loopback", "rtt"):
        ours = mb / _median(sftp[f"{label}_connector"])
        theirs = mb / _median(sftp[f"{label}_openssh"])
        out["sftp"][label] = {"connector": ours, "openssh": theirs, "ratio": ours / theirs}
    for size, runs in results.get("days", {}).items():
        secs = {
            k: _median([r["seconds"] for r in v])
            for k, v in runs.items()
            if v and isinstance(v[0], dict)
        }
        secs["openssh_next"] = _median(runs["openssh_next"])
        peaks = {
            k: _median([r["peak_mb"] for r in runs[k]])
            for k in ("e2e_full", "e2e_partial", "e2e_partial_sftp", "own_full", "own_partial")
        }
        bare = secs["bare_next"]
        out["days"][size] = {
            "seconds": secs,
            "peak_mb": peaks,
            "ratios": {
                "partial_e2e": secs["e2e_partial"] / bare,
                "full_e2e": secs["e2e_full"] / secs["bare_base"],
                "partial_own": secs["own_partial"] / bare,
                "full_own": secs["own_full"] / secs["bare_base"],
                "partial_sftp_e2e": secs["e2e_partial_sftp"] / (bare + secs["openssh_next"]),
            },
            "attached": runs["e2e_partial"][-1]["attached"],
            "attached_bytes": runs["e2e_partial"][-1]["attached_bytes"],
        }
    return out


def _mark(value: float, target: float, higher_is_better: bool = False) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "met" if ok else "**missed**"


def markdown(results: dict[str, Any], info: dict[str, str], argv: list[str], load: str) -> str:
    s = summary(results)
    rtt = results["rtt_ms"]
    lines = [
        "## End to end",
        "",
        f"Command: `.venv/bin/python bench/run.py {' '.join(argv)}`; {info['date']}; "
        f"{info['nproc']} cores ({info['cpu']}), Python {info['python']}. {load}",
        "",
        f"Medians of {results['repeat']}; every compared pair alternated in the same run.",
        "",
        f"SFTP download of a {results['sftp_mb']} MB file from OpenSSH's sshd on loopback: the "
        "connector (`download_hr_file`: connect, host key, login, pipelined reads, size and "
        "mtime check, fsync, rename; timed in its process) beside OpenSSH's `sftp get` (timed "
        f"around the process); `{rtt:g} ms` adds that round trip through "
        "`shared/tools/latency_proxy.py`:",
        "",
        "| link | connector MB/s | OpenSSH sftp MB/s | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for label, name, target in (
        ("loopback", "plain loopback", TARGETS["sftp_loopback"]),
        ("rtt", f"{rtt:g} ms round trip", TARGETS["sftp_rtt"]),
    ):
        f = s["sftp"][label]
        lines.append(
            f"| {name} | {f['connector']:.1f} | {f['openssh']:.1f} | {f['ratio']:.2f} "
            f"| >= {target:.2f} ({_mark(f['ratio'], target, True)}) |"
        )
    for size, d in s["days"].items():
        sec, peak, ratio = d["seconds"], d["peak_mb"], d["ratios"]
        lines += [
            "",
            f"A {size}-row work-period CSV day through `deployments/epe/IGAConnector.py` (a "
            "process, timed from start to exit, peak RSS from `wait4`), the admin task and its "
            "attachments filed to the local ESM over loopback HTTP (checked: one new datacard per "
            "run), against a bare `csv.reader` pass over the same file; the connector's own work "
            "is the plain-steps run without the ESM, as in the table above:",
            "",
            "| what | seconds | peak RSS MB | ratio to bare read | target |",
            "|---|---|---|---|---|",
            f"| bare `csv.reader`, next-day file | {sec['bare_next']:.2f} | - | 1 | |",
            f"| partial run through the wrapper, admin task filed | {sec['e2e_partial']:.2f} "
            f"| {peak['e2e_partial']:.0f} | {ratio['partial_e2e']:.2f} "
            f"| <= {TARGETS['partial_e2e']} ({_mark(ratio['partial_e2e'], TARGETS['partial_e2e'])})"
            f", RSS <= 800 ({_mark(peak['e2e_partial'], TARGETS['peak_mb'])}) |",
            f"| full run through the wrapper, admin task filed | {sec['e2e_full']:.2f} "
            f"| {peak['e2e_full']:.0f} | {ratio['full_e2e']:.2f} "
            f"| <= {TARGETS['full_e2e']} ({_mark(ratio['full_e2e'], TARGETS['full_e2e'])})"
            f", RSS <= 800 ({_mark(peak['e2e_full'], TARGETS['peak_mb'])}) |",
            f"| partial run, own work (no ESM) | {sec['own_partial']:.2f} "
            f"| {peak['own_partial']:.0f} | {ratio['partial_own']:.2f} "
            f"| <= {TARGETS['partial_own']} "
            f"({_mark(ratio['partial_own'], TARGETS['partial_own'])}) |",
            f"| full run, own work (no ESM) | {sec['own_full']:.2f} "
            f"| {peak['own_full']:.0f} | {ratio['full_own']:.2f} "
            f"| <= {TARGETS['full_own']} ({_mark(ratio['full_own'], TARGETS['full_own'])}) |",
            f"| partial run through the wrapper, file fetched over SFTP at {rtt:g} ms "
            f"| {sec['e2e_partial_sftp']:.2f} | {peak['e2e_partial_sftp']:.0f} "
            f"| {ratio['partial_sftp_e2e']:.2f} to (bare read + OpenSSH `sftp get` "
            f"{sec['openssh_next']:.2f} s) | |",
            "",
            f"Attached to the partial run's admin task: {', '.join(d['attached']) or 'nothing'} "
            f"({d['attached_bytes'] / MB:.1f} MB; the rest listed in the task).",
        ]
    lines += ["", "Closing note, from the figures above:", "", *closing_note(s)]
    return "\n".join(lines) + "\n"


def closing_note(s: dict[str, Any]) -> list[str]:
    """Each target met or missed, and by how much; the reasons are in the README (Performance)."""
    notes: list[str] = []
    for label, key in (("loopback", "sftp_loopback"), ("rtt", "sftp_rtt")):
        ratio, target = s["sftp"][label]["ratio"], TARGETS[key]
        state = "met" if ratio >= target else f"missed by {(target - ratio) * 100:.0f} points"
        notes.append(
            f"- SFTP {label}: {ratio:.2f} of OpenSSH's throughput, target {target}: {state}."
        )
    for size, d in s["days"].items():
        for key, text in (
            ("partial_e2e", "partial run through the wrapper"),
            ("full_e2e", "full run through the wrapper"),
            ("partial_own", "partial run, own work"),
            ("full_own", "full run, own work"),
        ):
            ratio, target = d["ratios"][key], TARGETS[key]
            state = "met" if ratio <= target else f"missed: {ratio / target:.2f} times the target"
            notes.append(f"- {size} {text}: {ratio:.2f} x bare read, target {target}: {state}.")
        peak = max(d["peak_mb"].values())
        state = "met" if peak <= TARGETS["peak_mb"] else "missed"
        notes.append(f"- {size} peak RSS: {peak:.0f} MB at most, target 800 MB: {state}.")
    notes.append(
        "- Why the missed ones are missed, with the profile, and what would reach them: "
        "README.md, section Performance."
    )
    return notes
