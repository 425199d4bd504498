"""scripts/slurm: submit.sh and job.sbatch, against a stand-in ``audiomnist``.

The always-run tests put a fake ``sbatch`` (it records its arguments, prints a job id) and a
fake ``audiomnist`` (it honours ``jobs --json`` and ``run-job``) on PATH and run the scripts
from a copy of ``scripts/slurm`` in a temporary checkout. ``test_real_slurm`` starts a
single-node Slurm (munged, slurmctld, slurmd, all in a temporary folder on their own ports)
where its binaries are installed (``apt-get install slurm-wlm munge``) and we are root, and
submits the same scripts to it. ``test_real_slurm_runs_the_smoke_profile`` submits this
checkout's real smoke arrays (``.venv/bin/audiomnist``, synthetic corpus) to such a cluster; it
takes a minute or two, so it runs only with ``AUDIOMNIST_TEST_SLURM_SMOKE=1``.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts" / "slurm"

FAKE_AUDIOMNIST = r'''#!/usr/bin/env python3
"""Stand-in for the audiomnist CLI: `jobs --json` and `run-job`, as in the contract."""
import argparse, json, os, sys, time
p = argparse.ArgumentParser()
p.add_argument("cmd")
p.add_argument("--profile", required=True)
p.add_argument("--data", default=None)
p.add_argument("--json", action="store_true")
p.add_argument("--index", type=int)
a = p.parse_args()
n_train = int(os.environ.get("FAKE_TRAIN", "3"))
n_analysis = int(os.environ.get("FAKE_ANALYSIS", "2"))
data = a.data or "synthetic"
log = os.environ.get("FAKE_LOG")
def note(line):
    if log:
        with open(log, "a") as f:
            f.write(json.dumps(line) + "\n")
if a.cmd == "jobs":
    note({"cmd": "jobs", "argv": sys.argv[1:], "exe": sys.argv[0]})
    if os.environ.get("FAKE_BAD_JSON"):
        print("not json")
        sys.exit(0)
    jobs = [{"index": i, "stage": "train", "name": f"train {i}", "depends": []} for i in range(n_train)]
    jobs += [{"index": n_train + i, "stage": "analysis", "name": f"analysis {i}",
              "depends": list(range(n_train))} for i in range(n_analysis)]
    arrays = {}
    if n_train:
        arrays["train"] = f"0-{n_train - 1}"
    if n_analysis:
        arrays["analysis"] = f"{n_train}-{n_train + n_analysis - 1}"
    print(json.dumps({"profile": a.profile, "data": data, "jobs": jobs, "arrays": arrays}))
elif a.cmd == "run-job":
    stage = "train" if a.index < n_train else "analysis"
    base = {"cmd": "run-job", "index": a.index, "stage": stage, "profile": a.profile, "data": data,
            "exe": sys.argv[0], "runs": os.environ.get("AUDIOMNIST_RUNS", ""),
            "task": os.environ.get("SLURM_ARRAY_TASK_ID"), "cwd": os.getcwd()}
    note({**base, "event": "start", "t": time.time()})
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    note({**base, "event": "end", "t": time.time()})
else:
    sys.exit(f"fake audiomnist: unknown command {a.cmd}")
'''

FAKE_SBATCH = r'''#!/usr/bin/env python3
"""Stand-in for sbatch: records its arguments, prints the next job id (the first as id;cluster)."""
import json, os, sys
log = os.environ["FAKE_SBATCH_LOG"]
n = sum(1 for _ in open(log)) if os.path.exists(log) else 0
with open(log, "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd()}) + "\n")
if os.environ.get("FAKE_SBATCH_FAIL"):
    sys.exit("sbatch: error: Batch job submission failed: Invalid partition name specified")
job = 100 + n
print(f"{job};cluster" if n == 0 else job)
'''


def _exe(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class Sandbox:
    """A temporary checkout holding scripts/slurm, a bin folder of stand-ins, their logs."""

    def __init__(self, root: Path, *, sbatch: bool = True, audiomnist: bool = True):
        self.root = root
        self.repo = root / "repo"
        shutil.copytree(SCRIPTS, self.repo / "scripts" / "slurm")
        self.bin = root / "bin"
        self.bin.mkdir()
        # Only the tools the scripts need, so that a system sbatch/audiomnist is not found.
        for tool in ("bash", "dirname", "mkdir", "date", "hostname", "sleep"):
            found = shutil.which(tool)
            if found:
                (self.bin / tool).symlink_to(found)
        (self.bin / "python3").symlink_to(sys.executable)
        if audiomnist:
            _exe(self.bin / "audiomnist", FAKE_AUDIOMNIST)
        if sbatch:
            _exe(self.bin / "sbatch", FAKE_SBATCH)
        self.log = root / "audiomnist.log"
        self.sbatch_log = root / "sbatch.log"
        self.env = {"PATH": str(self.bin), "HOME": str(root), "FAKE_LOG": str(self.log),
                    "FAKE_SBATCH_LOG": str(self.sbatch_log)}

    def run(self, script: str, *args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.repo / "scripts" / "slurm" / script), *args], cwd=cwd or self.root,
                              env={**self.env, **env}, capture_output=True, text=True, timeout=30)

    def submissions(self) -> list[list[str]]:
        if not self.sbatch_log.exists():
            return []
        return [json.loads(line)["argv"] for line in self.sbatch_log.read_text().splitlines()]

    def events(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


def _opt(argv: list[str], name: str) -> list[str]:
    """The values of every ``--name=value`` in argv, in order."""
    return [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]


@pytest.fixture
def box(tmp_path) -> Sandbox:
    return Sandbox(tmp_path)


def test_submit_train_then_analysis(box):
    done = box.run("submit.sh", "smoke")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["train 100 array=0-2", "analysis 101 array=3-4 after=100"]
    train, analysis = box.submissions()
    for argv, stage, array in ((train, "train", "0-2"), (analysis, "analysis", "3-4")):
        assert "--parsable" in argv
        assert _opt(argv, "array") == [array]
        assert _opt(argv, "chdir") == [str(box.repo)]
        assert _opt(argv, "job-name") == [f"audiomnist-{stage}-smoke-synthetic"]
        assert _opt(argv, "output") == [f"{box.repo}/runs/slurm/%A_%a.out"]
        # the batch script, then its arguments: the profile and the data source the listing names
        assert argv[-3:] == ["scripts/slurm/job.sbatch", "smoke", "synthetic"]
    assert _opt(train, "dependency") == []
    assert _opt(analysis, "dependency") == ["afterok:100"]  # "100;cluster" read as 100
    assert (box.repo / "runs" / "slurm").is_dir()
    (jobs,) = box.events()
    assert jobs["argv"] == ["jobs", "--profile", "smoke", "--json"]


def test_submit_passes_data_and_options(box):
    runs = box.root / "elsewhere"
    done = box.run("submit.sh", "paper", "real", "--partition=cpu", "--time=1:00:00",
                   AUDIOMNIST_RUNS=str(runs), AUDIOMNIST_SBATCH_TRAIN="--gres=gpu:1 --partition=gpu")
    assert done.returncode == 0, done.stderr
    (jobs,) = box.events()
    assert jobs["argv"] == ["jobs", "--profile", "paper", "--json", "--data", "real"]
    train, analysis = box.submissions()
    assert train[-3:] == analysis[-3:] == ["scripts/slurm/job.sbatch", "paper", "real"]
    assert _opt(train, "output") == [f"{runs}/slurm/%A_%a.out"] and (runs / "slurm").is_dir()
    # common options after the script's own, the stage's after those: the last one wins in sbatch
    assert _opt(train, "partition") == ["cpu", "gpu"] and _opt(train, "gres") == ["gpu:1"]
    assert _opt(analysis, "partition") == ["cpu"] and _opt(analysis, "gres") == []
    assert _opt(analysis, "time") == ["1:00:00"]


@pytest.mark.parametrize("n_train, n_analysis", [(4, 0), (0, 3)])
def test_submit_missing_stage(box, n_train, n_analysis):
    done = box.run("submit.sh", "smoke", FAKE_TRAIN=str(n_train), FAKE_ANALYSIS=str(n_analysis))
    assert done.returncode == 0, done.stderr
    (argv,) = box.submissions()
    assert _opt(argv, "dependency") == []
    if n_analysis:
        assert _opt(argv, "array") == ["0-2"] and done.stdout.splitlines() == ["analysis 100 array=0-2"]
    else:
        assert _opt(argv, "array") == ["0-3"] and done.stdout.splitlines() == ["train 100 array=0-3"]


def test_submit_no_jobs(box):
    done = box.run("submit.sh", "smoke", FAKE_TRAIN="0", FAKE_ANALYSIS="0")
    assert done.returncode == 0 and box.submissions() == []
    assert "no jobs" in done.stderr


def test_submit_missing_sbatch(tmp_path):
    box = Sandbox(tmp_path, sbatch=False)
    done = box.run("submit.sh", "smoke")
    assert done.returncode == 127
    assert "sbatch not found" in done.stderr


def test_submit_missing_audiomnist(tmp_path):
    box = Sandbox(tmp_path, audiomnist=False)
    done = box.run("submit.sh", "smoke")
    assert done.returncode == 127
    assert "audiomnist not found" in done.stderr and box.submissions() == []


def test_submit_errors(box):
    usage = box.run("submit.sh")
    assert usage.returncode == 2 and "usage:" in usage.stderr
    stray = box.run("submit.sh", "smoke", "real", "extra")
    assert stray.returncode == 2 and "unexpected argument 'extra'" in stray.stderr
    bad = box.run("submit.sh", "smoke", FAKE_BAD_JSON="1")
    assert bad.returncode == 1 and "did not print the expected JSON" in bad.stderr
    failed = box.run("submit.sh", "smoke", FAKE_SBATCH_FAIL="1")
    assert failed.returncode != 0 and "sbatch of the train array (0-2) failed" in failed.stderr
    assert len(box.submissions()) == 1  # no analysis array after a failed train submission


def test_submit_prefers_the_repo_venv(box):
    venv = _exe(box.repo / ".venv" / "bin" / "audiomnist", FAKE_AUDIOMNIST)
    assert box.run("submit.sh", "smoke").returncode == 0
    (jobs,) = box.events()
    assert jobs["exe"] == str(venv)


def test_job_runs_its_index(box):
    done = box.run("job.sbatch", "smoke", "real", cwd=box.repo, SLURM_ARRAY_TASK_ID="4", SLURM_CPUS_PER_TASK="3")
    assert done.returncode == 0, done.stderr
    start, end = box.events()
    assert start["index"] == 4 and start["profile"] == "smoke" and start["data"] == "real"
    assert start["exe"] == str(box.bin / "audiomnist") and start["cwd"] == str(box.repo)
    venv = _exe(box.repo / ".venv" / "bin" / "audiomnist", FAKE_AUDIOMNIST)
    assert box.run("job.sbatch", "smoke", cwd=box.repo, SLURM_ARRAY_TASK_ID="0").returncode == 0
    start = box.events()[2]
    assert start["exe"] == str(venv) and start["index"] == 0 and start["data"] == "synthetic"


def test_job_errors(tmp_path):
    box = Sandbox(tmp_path, audiomnist=False)
    no_task = box.run("job.sbatch", "smoke", cwd=box.repo)
    assert no_task.returncode == 2 and "SLURM_ARRAY_TASK_ID is not set" in no_task.stderr
    elsewhere = box.run("job.sbatch", "smoke", cwd=box.root, SLURM_ARRAY_TASK_ID="0")
    assert elsewhere.returncode == 2 and "is not the audiomnist checkout" in elsewhere.stderr
    missing = box.run("job.sbatch", "smoke", cwd=box.repo, SLURM_ARRAY_TASK_ID="0")
    assert missing.returncode == 127 and "audiomnist not found" in missing.stderr


def test_job_defaults():
    text = (SCRIPTS / "job.sbatch").read_text()
    for default in ("--job-name=", "--output=runs/slurm/%A_%a.out", "--time=", "--cpus-per-task="):
        assert f"#SBATCH {default}" in text


# --- a real single-node Slurm -------------------------------------------------------------

SLURM_BINARIES = ("sbatch", "squeue", "sinfo", "slurmctld", "slurmd", "munged")


def _missing_slurm() -> str | None:
    missing = [b for b in SLURM_BINARIES if not (shutil.which(b) or Path("/usr/sbin", b).exists())]
    if missing:
        return f"Slurm binaries not installed: {', '.join(missing)} (apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "a throwaway slurmd needs root"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _wait(predicate, timeout: float, what: str, *folders: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{_tails(*folders)}")


def _tails(*folders: Path, lines: int = 15) -> str:
    """The last lines of every daemon log and job output in folders, for a failure message."""
    files = sorted(p for f in folders if f.is_dir() for p in (*f.glob("*.log"), *f.glob("*.out")))
    return "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-lines:])
                     for p in files)


class SlurmCluster:
    """A running single-node Slurm: ``env`` reaches it (``SLURM_CONF``, no job variables)."""

    def __init__(self, root: Path, conf: Path, env: dict[str, str]):
        self.root, self.conf, self.env, self.logs = root, conf, env, root / "log"

    def squeue(self) -> list[list[str]] | None:
        """One ``[job id, state, reason]`` per queued job (array tasks apart), None where squeue fails."""
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T %r"], env=self.env, capture_output=True, text=True)
        return [line.split(None, 2) for line in out.stdout.splitlines()] if out.returncode == 0 else None

    def drain(self, timeout: float, *outputs: Path) -> None:
        """Wait until the queue is empty; fail at once where a job waits on a dependency that failed."""
        def drained() -> bool:
            queue = self.squeue()
            if queue and any("DependencyNeverSatisfied" in job[-1] for job in queue):
                pytest.fail(f"a dependency failed: {queue}\n{_tails(self.logs, *outputs, lines=40)}")
            return queue == []

        _wait(drained, timeout, "the jobs to finish", self.logs, *outputs)

    def submit(self, submit_sh: Path, *args: str, env: dict[str, str], cwd: Path) -> tuple[str, str]:
        """Run submit.sh against this cluster; the train and the analysis array's job ids."""
        done = subprocess.run([str(submit_sh), *args], cwd=cwd, env={**env, "SLURM_CONF": str(self.conf)},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        (train_line, analysis_line) = done.stdout.splitlines()
        train_id, analysis_id = train_line.split()[1], analysis_line.split()[1]
        assert analysis_line.endswith(f"after={train_id}")
        return train_id, analysis_id


@contextmanager
def slurm_cluster(d: Path) -> Iterator[SlurmCluster]:
    """munged, slurmctld and slurmd in folder ``d`` on free ports, up until the node is idle;
    stopped (terminated, killed after 15 s) on the way out."""
    for sub in ("munge", "state", "spool", "log"):
        (d / sub).mkdir(parents=True)
    (d / "munge").chmod(0o700)
    key = d / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    sock = d / "munge" / "socket"
    node = subprocess.run([_binary("slurmd"), "-C"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    host = node.split()[0].split("=", 1)[1]
    conf = d / "slurm.conf"
    conf.write_text(f"""\
ClusterName=audiomnisttest
SlurmctldHost={host}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
{node}
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    for var in [v for v in env if v.startswith(("SLURM_", "SBATCH_")) and v != "SLURM_CONF"]:
        del env[var]  # not a job's environment inside a job
    cluster = SlurmCluster(d, conf, env)
    daemons: list[subprocess.Popen] = []
    try:
        started = time.monotonic()
        daemons.append(subprocess.Popen(
            [_binary("munged"), "-F", "--force", f"--socket={sock}", f"--key-file={key}",
             f"--pid-file={d}/munge/pid", f"--log-file={d}/log/munged.log", f"--seed-file={d}/munge/seed"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        _wait(sock.exists, 10, "munged", cluster.logs)
        daemons.append(subprocess.Popen([_binary("slurmctld"), "-D", "-i", "-f", str(conf)], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        daemons.append(subprocess.Popen([_binary("slurmd"), "-D", "-f", str(conf)], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))

        def idle() -> bool:
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
            return out.returncode == 0 and out.stdout.strip() in ("idle", "mixed")

        _wait(idle, 60, "the node to be idle", cluster.logs)
        print(f"slurm up in {time.monotonic() - started:.1f} s")
        yield cluster
    finally:
        for proc in reversed(daemons):
            proc.terminate()
        for proc in reversed(daemons):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def slurm(tmp_path) -> Iterator[SlurmCluster]:
    with slurm_cluster(tmp_path / "slurm") as cluster:
        yield cluster


real_slurm = pytest.mark.skipif(_missing_slurm() is not None, reason=_missing_slurm() or "")


@real_slurm
def test_real_slurm(tmp_path, slurm):
    box = Sandbox(tmp_path)
    (box.bin / "sbatch").unlink()  # the real one, from here on
    started = time.monotonic()
    runs = tmp_path / "runs"
    sub_env = {k: v for k, v in slurm.env.items() if k not in ("PATH",)}
    sub_env.update(box.env, PATH=f"{box.bin}:{os.path.dirname(_binary('sbatch'))}",
                   AUDIOMNIST_RUNS=str(runs), FAKE_SLEEP="0.5")
    train_id, analysis_id = slurm.submit(box.repo / "scripts/slurm/submit.sh", "smoke", "--cpus-per-task=1",
                                         "--mem=100M", "--time=5", env=sub_env, cwd=tmp_path)
    slurm.drain(120, runs / "slurm")
    print(f"jobs done in {time.monotonic() - started:.1f} s")

    events = box.events()[1:]  # after the `jobs` call
    starts = [e for e in events if e["event"] == "start"]
    ends = [e for e in events if e["event"] == "end"]
    assert sorted(e["index"] for e in starts) == sorted(e["index"] for e in ends) == [0, 1, 2, 3, 4]
    assert all(e["task"] == str(e["index"]) and e["runs"] == str(runs) and e["cwd"] == str(box.repo)
               for e in starts)
    last_train = max(e["t"] for e in ends if e["stage"] == "train")
    first_analysis = min(e["t"] for e in starts if e["stage"] == "analysis")
    assert first_analysis >= last_train, "an analysis job started before the train array finished"
    outs = sorted(p.name for p in (runs / "slurm").iterdir())
    assert outs == [f"{train_id}_{i}.out" for i in range(3)] + [f"{analysis_id}_{i}.out" for i in (3, 4)]


SMOKE_VAR = "AUDIOMNIST_TEST_SLURM_SMOKE"
REPO = SCRIPTS.parents[1]
RUNS_OF = [f"{m}-{t}-fold0" for m in ("alexnet", "audionet") for t in ("digits", "gender")]


@real_slurm
@pytest.mark.skipif(os.environ.get(SMOKE_VAR) != "1",
                    reason=f"slow (a minute or two): trains and analyses the smoke profile; run with {SMOKE_VAR}=1")
def test_real_slurm_runs_the_smoke_profile(tmp_path, slurm):
    """The real smoke arrays from this checkout, the real CLI (.venv/bin/audiomnist) on the synthetic corpus."""
    audiomnist = REPO / ".venv" / "bin" / "audiomnist"
    assert audiomnist.exists(), f"{audiomnist} missing: install the package first (make install)"
    started = time.monotonic()
    runs, data = tmp_path / "runs", tmp_path / "data"
    env = {k: v for k, v in slurm.env.items() if not k.startswith("AUDIOMNIST_")}
    env.update(PATH=f"{os.path.dirname(_binary('sbatch'))}:{env.get('PATH', '/usr/bin:/bin')}",
               AUDIOMNIST_RUNS=str(runs), AUDIOMNIST_DATA_DIR=str(data), OMP_NUM_THREADS="1")
    train_id, analysis_id = slurm.submit(REPO / "scripts/slurm/submit.sh", "smoke", "synthetic", "--cpus-per-task=1",
                                         "--mem=4G", "--time=15", env=env, cwd=tmp_path)
    slurm.drain(600, runs / "slurm")
    print(f"smoke arrays done in {time.monotonic() - started:.1f} s")

    outs = sorted((runs / "slurm").glob("*.out"))
    assert [p.name for p in outs] == [f"{train_id}_{i}.out" for i in range(4)] + [f"{analysis_id}_{i}.out" for i in range(4, 8)]
    for out in outs:
        text = out.read_text(errors="replace")
        assert "Traceback" not in text and "error:" not in text, f"{out.name}:\n{text[-3000:]}"
    root = runs / "smoke-synthetic"
    lines = [json.loads(line) for line in (root / "jobs.jsonl").read_text().splitlines()]
    for line in lines:
        print(json.dumps(line))
    order = [line["index"] for line in lines]
    assert sorted(order) == list(range(8)), f"each job once: {order}"
    assert max(order.index(i) for i in range(4)) < min(order.index(i) for i in range(4, 8)), \
        f"an analysis job finished before a train job: {order}"
    assert len(list(root.glob("train/*/result.json"))) == 4
    for name in RUNS_OF:
        assert (root / "train" / name / "result.json").is_file()
        assert (root / "perturb" / f"zeroing-{name}.json").is_file()
        assert (root / "relevance" / f"{name}.npz").is_file()
    assert (root / "perturb" / "frequency_scaling-fold0.json").is_file()
