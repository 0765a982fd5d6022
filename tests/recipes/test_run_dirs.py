"""Run directories: one writer at a time, no silent reuse, checkpoints ordered by their recorded step,
a checksummed state.json, the run directory named at the start and on interrupt, epochs counted from 1
and each metric once in results.json."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from test_engine_trainer import blobs, mlp

from an2dl.engine import Callback, Checkpoint, Trainer
from an2dl.engine.checkpoint import (
    STATE_DIGEST,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from an2dl.engine.rundir import LOCK_NAME, RunDirLock, is_secondary_process
from an2dl.errors import CheckpointError, ConfigError, RunDirLockedError
from an2dl.tasks import ClassificationTask

RUN = ["run", "lenet5-digits", "--quiet", "--set", "trainer.accelerator=cpu"]


def task():
    return ClassificationTask(mlp(), num_classes=3)


def trainer(run_dir, **kw):
    """64 samples in batches of 16: 4 optimiser steps per epoch."""
    kw.setdefault("max_epochs", 3)
    return Trainer(batch_size=16, seed=0, run_dir=run_dir, progress=False, **kw)


def write_lock(run_dir, pid, host=None):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / LOCK_NAME).write_text(json.dumps(
        {"pid": pid, "host": host or socket.gethostname(), "started": "2024-05-01 10:00:00", "command": "an2dl run x"}))


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


class LockProbe(Callback):
    """Records the pid in the lock file after every batch; raises ``fail`` at step 3."""

    def __init__(self, fail=None):
        self.pids, self.fail = [], fail

    def on_batch_end(self, trainer, task, outputs, batch, batch_idx):
        lock = trainer.run_dir / LOCK_NAME
        self.pids.append(json.loads(lock.read_text())["pid"] if lock.is_file() else None)
        if self.fail is not None and trainer.global_step == 3:
            raise self.fail


# ---------------------------------------------------------------- 1. locks
def test_fit_holds_the_lock_and_releases_it_on_errors_and_interrupts(tmp_path):
    probe = LockProbe()
    trainer(tmp_path / "ok", max_epochs=1, callbacks=[probe]).fit(task(), blobs(64))
    assert probe.pids == [os.getpid()] * 4 and not (tmp_path / "ok" / LOCK_NAME).exists()
    for name, fail in (("crash", RuntimeError("boom")), ("ctrl-c", KeyboardInterrupt())):
        probe = LockProbe(fail)
        with pytest.raises(type(fail)):
            trainer(tmp_path / name, callbacks=[probe]).fit(task(), blobs(64))
        assert probe.pids == [os.getpid()] * 3 and not (tmp_path / name / LOCK_NAME).exists(), name
    # re-entrant in one process (the command line locks the directory, then the trainer inside it)
    with RunDirLock(tmp_path / "nested"):
        trainer(tmp_path / "nested", max_epochs=1).fit(task(), blobs(64))
        assert json.loads((tmp_path / "nested" / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (tmp_path / "nested" / LOCK_NAME).exists()


def test_a_second_writer_fails_and_a_stale_lock_is_taken_over(tmp_path):
    run = tmp_path / "run"
    for pid, host in ((os.getppid(), None), (dead_pid(), "another-host")):  # alive here; unknowable elsewhere
        write_lock(run, pid, host)
        with pytest.raises(RunDirLockedError) as err:
            trainer(run, max_epochs=1).fit(task(), blobs(64))
        msg = str(err.value)
        assert f"run directory {run} is in use by pid {pid} on {host or socket.gethostname()}" in msg and "\n" not in msg
        assert json.loads((run / LOCK_NAME).read_text())["pid"] == pid  # left to its holder
        assert not (run / "checkpoints").exists()
    pid = dead_pid()
    write_lock(run, pid)
    with pytest.warns(RuntimeWarning, match=rf"took over the lock of pid {pid} .*no longer running"):
        trainer(run, max_epochs=1).fit(task(), blobs(64))
    assert (run / "checkpoints" / "LATEST").is_file() and not (run / LOCK_NAME).exists()


def test_only_the_rank_zero_process_owns_the_directory(tmp_path, monkeypatch):
    import an2dl

    # in-process runs one after the other get their own directories and leave no AN2DL_RUN_DIR behind
    first = an2dl.run("perceptron-logic", runs_root=tmp_path, progress=False).run_dir
    second = an2dl.run("perceptron-logic", runs_root=tmp_path, progress=False).run_dir
    assert first != second and "AN2DL_RUN_DIR" not in os.environ and not (first / LOCK_NAME).exists()
    shared = tmp_path / "shared"
    write_lock(shared, os.getppid())  # rank 0, alive, holds it
    with pytest.raises(RunDirLockedError):
        an2dl.run("perceptron-logic", run_dir=shared, progress=False)
    assert not is_secondary_process()
    monkeypatch.setenv("LOCAL_RANK", "1")  # what Lightning's launcher gives the process of rank 1
    monkeypatch.setenv("AN2DL_RUN_DIR", str(shared))
    assert is_secondary_process()
    result = an2dl.run("perceptron-logic", progress=False)  # finds the directory, neither locks nor checks it
    assert result.run_dir == shared and (shared / "results.json").is_file()
    assert json.loads((shared / LOCK_NAME).read_text())["pid"] == os.getppid()


@pytest.mark.parametrize("env, secondary", [
    ({"SLURM_NTASKS": "4", "SLURM_PROCID": "2", "SLURM_JOB_NAME": "train"}, True),  # a task srun started
    ({"SLURM_NTASKS": "4", "SLURM_PROCID": "0", "SLURM_JOB_NAME": "train"}, False),
    ({"SLURM_PROCID": "2", "SLURM_JOB_NAME": "train"}, False),  # not a task of a parallel launch
    ({"SLURM_NTASKS": "4", "SLURM_PROCID": "2", "SLURM_JOB_NAME": "interactive"}, False),  # Fabric ignores SLURM
    ({"SLURM_NTASKS": "2", "SLURM_PROCID": "0", "RANK": "1"}, True),  # torchrun started by srun, second worker
])
def test_srun_tasks_are_secondary_as_fabric_ranks_them(monkeypatch, env, secondary):
    for var in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_JOB_NAME"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert is_secondary_process() is secondary


# ---------------------------------------------------------------- 1. no silent reuse
def test_a_fresh_fit_refuses_a_directory_holding_another_runs_checkpoints(tmp_path):
    done = tmp_path / "done"
    trainer(done).fit(task(), blobs(64))
    copy = tmp_path / "copy"
    shutil.copytree(done, copy)
    before = sorted(p.name for p in (copy / "checkpoints").iterdir())
    with pytest.raises(ConfigError) as err:
        trainer(copy, max_epochs=1).fit(task(), blobs(64))
    msg = str(err.value)
    assert f"run_dir {copy} already holds the checkpoints of a run (latest: 000000012)" in msg
    assert 'ckpt_path="last"' in msg and "new run_dir" in msg
    assert sorted(p.name for p in (copy / "checkpoints").iterdir()) == before == ["000000012", "LATEST"]
    assert not (copy / LOCK_NAME).exists()
    resumed = trainer(copy)
    resumed.fit(task(), blobs(64), ckpt_path="last")  # continuing the copied run is allowed
    assert resumed.global_step == 12


# ---------------------------------------------------------------- 2. order by recorded step
class LatestProbe(Callback):
    """After every save: does LATEST name an existing checkpoint with the highest step?"""

    order = 101  # after Checkpoint

    def __init__(self):
        self.checked, self.wrong = 0, []

    def _check(self, trainer):
        d = trainer.checkpoint_dir
        name = (d / "LATEST").read_text().strip()
        steps = [int(p.name) for p in list_checkpoints(d)]
        self.checked += 1
        if not (d / name / "state.json").is_file() or int(name) != max(steps):
            self.wrong.append((trainer.global_step, name, steps))

    def on_batch_end(self, trainer, task, outputs, batch, batch_idx):
        self._check(trainer)

    def on_epoch_end(self, trainer, task, metrics):
        self._check(trainer)


def test_latest_names_the_highest_existing_step_in_a_copied_directory(tmp_path):
    full = tmp_path / "full"
    trainer(full, callbacks=[Checkpoint(every_n_steps=2, keep_last=100)]).fit(task(), blobs(64))
    assert [p.name for p in list_checkpoints(full / "checkpoints")] == [f"{s:09d}" for s in range(2, 13, 2)]
    copy = tmp_path / "copy"  # a copy of the run that has kept steps 4 and 12
    shutil.copytree(full, copy)
    for p in list_checkpoints(copy / "checkpoints"):
        if p.name not in ("000000004", "000000012"):
            shutil.rmtree(p)
    probe = LatestProbe()
    tr = trainer(copy, callbacks=[Checkpoint(every_n_steps=2, keep_last=1), probe])
    tr.fit(task(), blobs(64), ckpt_path=copy / "checkpoints" / "000000004")  # saves steps 6, 8, 10 and 12 again
    assert probe.checked == 8 + 2 and probe.wrong == []
    assert [p.name for p in list_checkpoints(copy / "checkpoints")] == ["000000012"]
    assert load_checkpoint(copy).state["trainer"]["global_step"] == 12


def test_checkpoints_are_ordered_by_the_recorded_step_not_the_folder_name(tmp_path):
    w = {"w": torch.zeros(2)}
    for step in (999_999_999, 1_000_000_000, 5):
        save_checkpoint(tmp_path, step, model=w, optimizer={}, tensors={}, state={})
    assert [p.name for p in list_checkpoints(tmp_path)] == ["000000005", "999999999", "1000000000"]
    assert (tmp_path / "LATEST").read_text().strip() == "1000000000"  # saving step 5 last does not move it back
    Checkpoint(keep_last=2)._prune(tmp_path)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["999999999", "1000000000"]
    (tmp_path / "LATEST").unlink()
    assert latest_checkpoint(tmp_path).name == "1000000000"


# ---------------------------------------------------------------- 3. state.json checksum
def test_an_edited_state_json_is_refused_and_older_checkpoints_still_load(tmp_path):
    run = tmp_path / "run"
    trainer(run, max_epochs=2).fit(task(), blobs(64))
    ck = latest_checkpoint(run / "checkpoints")
    original = (ck / "state.json").read_text()
    assert (ck / STATE_DIGEST).read_text() == hashlib.sha256(original.encode()).hexdigest() + "  state.json\n"
    doc = json.loads(original)
    doc["trainer"]["global_step"] = 4
    (ck / "state.json").write_text(json.dumps(doc, indent=1))
    with pytest.raises(CheckpointError) as err:
        trainer(run, max_epochs=2).fit(task(), blobs(64), ckpt_path="last")
    assert f"{ck / 'state.json'} was modified or is corrupt" in str(err.value) and STATE_DIGEST in str(err.value)
    assert not (run / LOCK_NAME).exists()
    (ck / "state.json").write_text(original)
    (ck / STATE_DIGEST).unlink()
    with pytest.raises(CheckpointError, match=f"lacks {STATE_DIGEST}"):
        load_checkpoint(ck)
    # format version 1: no digest file, history epochs counted from 0
    doc = json.loads(original)
    doc["version"] = 1
    for row in doc["trainer"]["history"]:
        row["epoch"] -= 1
    (ck / "state.json").write_text(json.dumps(doc))
    tr = trainer(run, max_epochs=2)
    tr.fit(task(), blobs(64), ckpt_path="last")
    assert tr.global_step == 8 and [r["epoch"] for r in tr.history] == [1, 2]


# ---------------------------------------------------------------- 5. epochs from 1, metrics once
def test_history_and_metric_files_count_epochs_from_1(tmp_path):
    tr = trainer(tmp_path, max_epochs=2, val_every_n_steps=2)
    tr.fit(task(), blobs(64), blobs(30, seed=1))
    expected = [(1, 2), (1, 4), (1, 4), (2, 6), (2, 8), (2, 8)]  # step-level rows name the epoch in progress
    assert [(r["epoch"], r["step"]) for r in tr.history] == expected
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    table = list(csv.DictReader(io.StringIO((tmp_path / "metrics.csv").read_text())))
    assert [(r["epoch"], r["step"]) for r in rows] == expected
    assert [(int(r["epoch"]), int(r["step"])) for r in table] == expected


def test_results_json_holds_each_metric_once(tmp_path):
    from an2dl.recipes.base import write_results

    write_results(tmp_path, {"test/accuracy": 0.5, "wall_seconds": 2.0}, epochs=3)
    assert json.loads((tmp_path / "results.json").read_text()) == {
        "metrics": {"test/accuracy": 0.5, "wall_seconds": 2.0}, "epochs": 3}
    with pytest.raises(ValueError, match=r"extra fields \['wall_seconds'\] clash with the metrics"):
        write_results(tmp_path, {"wall_seconds": 2.0}, wall_seconds=2.0)


# ---------------------------------------------------------------- the command line
def test_run_refuses_a_used_directory_and_force_moves_it_aside(cli, tmp_path):
    run = tmp_path / "lenet"
    old = {"checkpoints/000000120/state.json": "{}", "checkpoints/LATEST": "000000120\n", "model.onnx": "onnx",
           "export/model.json": "{}", "tensorboard/events.out.tfevents.1": "tb", "config.json": "{}"}
    for name, text in old.items():
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(text)
    refused = cli(*RUN, "--set", "trainer.max_epochs=1", "--run-dir", str(run))
    assert refused.returncode == 2, refused.stderr
    line = refused.stderr.strip()
    assert "\n" not in line and f"run directory {run} is not empty" in line and "--force" in line
    assert f"an2dl resume {run}" in line
    assert all((run / name).read_text() == text for name, text in old.items())
    forced = cli(*RUN, "--set", "trainer.max_epochs=1", "--run-dir", str(run), "--force")
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.strip().splitlines()[-1] == str(run)
    (replaced,) = run.glob(".replaced-*")
    first = forced.stderr.splitlines()[0]
    assert first == f"an2dl: run directory: {run}; resume with: an2dl resume {run}; the previous contents are in {replaced}"
    assert all((replaced / name).read_text() == text for name, text in old.items())
    assert not (run / "model.onnx").exists() and not (run / "export").exists()
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["000000040"]
    assert latest_checkpoint(run / "checkpoints").name == "000000040"
    assert len(list((run / "tensorboard").iterdir())) == 1 and not (run / LOCK_NAME).exists()
    results = json.loads((run / "results.json").read_text())
    assert "test/accuracy" in results["metrics"] and not any("/" in k for k in results)
    assert [row["epoch"] for row in csv.DictReader(io.StringIO((run / "metrics.csv").read_text()))] == ["1"]


def test_a_second_run_is_refused_and_an_interrupt_names_the_resume_command(cli, tmp_path):
    run = tmp_path / "busy"
    env = {k: v for k, v in os.environ.items() if k != "AN2DL_RUN_DIR"}
    first = subprocess.Popen([sys.executable, "-m", "an2dl", *RUN, "--set", "trainer.max_epochs=100", "--set",
                              "checkpoint.every_n_steps=5", "--run-dir", str(run)],
                             cwd=tmp_path, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoints" / "LATEST").is_file():
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()[1]
            time.sleep(0.1)
        second = cli(*RUN, "--set", "trainer.max_epochs=1", "--run-dir", str(run))
        assert second.returncode == 1, second.stderr
        assert second.stderr.strip() == (
            f"an2dl: error: run directory {run} is in use by pid {first.pid} on {socket.gethostname()}, started "
            f"{json.loads((run / LOCK_NAME).read_text())['started']} (lock file {run / LOCK_NAME}); "
            "wait for that run to end or choose another directory")
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130, err
    lines = err.strip().splitlines()
    assert lines[0] == f"an2dl: run directory: {run}; resume with: an2dl resume {run}"
    assert lines[-1] == f"an2dl: interrupted; run directory: {run}; resume with: an2dl resume {run}"
    assert not (run / LOCK_NAME).exists()
    assert load_checkpoint(run).state["trainer"]["global_step"] >= 5  # what `an2dl resume` continues from
