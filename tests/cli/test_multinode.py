"""Two nodes simulated on this machine: two ``torchrun`` node processes (static rendezvous on
127.0.0.1, one worker each, gloo) run ``an2dl run`` / ``an2dl resume`` as one 2-process job; and two
tasks started the way SLURM's ``srun`` starts them (no ``torchrun``: ranks from ``SLURM_PROCID``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

# as in test_ddp.py: no augmentation (each process would draw its own transforms for its share of
# the batch) and float64 (the all-reduce's summation order then stays below 1e-12)
COMMON = ["--quiet", "--set", "trainer.max_epochs=2", "--set", "augment.p=0",
          "--set", "trainer.accelerator=cpu", "--set", "trainer.precision=64-true"]
RUN = ["run", "lenet5-digits", *COMMON]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(extra: dict | None = None) -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **(extra or {})}
    env.pop("AN2DL_RUN_DIR", None)
    return env


def _two_nodes(*args: str, node_env: dict[int, dict] | None = None, timeout: float = 120,
               launcher: str = "torchrun") -> list[subprocess.CompletedProcess]:
    """``torchrun --nnodes 2 --nproc-per-node 1 --node-rank R -m an2dl ARGS`` for R = 0, 1 at once; with
    ``launcher="srun"``, ``python -m an2dl ARGS`` in the environment ``srun --nodes 2 --ntasks-per-node 1`` gives
    task R (``SLURM_NTASKS``, ``SLURM_PROCID``, ``SLURM_NODEID``, ...; the port through ``MASTER_PORT``).

    The rendezvous port is found free, then released for node 0 to bind; another process of the machine can take
    it in between, and node 1 then waits for a master that never comes.  A fresh ``run`` that hangs so is started
    once more on a new port (its run directory cleared); a second hang fails the test.
    """
    try:
        return _two_nodes_once(args, node_env, timeout, launcher)
    except subprocess.TimeoutExpired:
        if args[0] != "run" or "--run-dir" not in args:
            raise
        shutil.rmtree(args[args.index("--run-dir") + 1], ignore_errors=True)
        return _two_nodes_once(args, node_env, timeout, launcher)


def _srun_env(node: int, port: int) -> dict[str, str]:
    return {"SLURM_NTASKS": "2", "SLURM_PROCID": str(node), "SLURM_LOCALID": "0", "SLURM_NODEID": str(node),
            "SLURM_NNODES": "2", "SLURM_NTASKS_PER_NODE": "1", "SLURM_JOB_NAME": "an2dl", "SLURM_JOB_ID": "4242",
            "SLURM_NODELIST": "127.0.0.1", "MASTER_PORT": str(port)}


def _two_nodes_once(args: tuple[str, ...], node_env: dict[int, dict] | None, timeout: float,
                    launcher: str) -> list[subprocess.CompletedProcess]:
    port = _free_port()
    procs, logs = [], []
    # each node writes to files, not pipes: a node blocked on a full pipe while the test waits on the other node
    # would hold both in their next collective
    for node in (0, 1):
        env = dict((node_env or {}).get(node) or {})
        if launcher == "srun":
            cmd = [sys.executable, "-m", "an2dl", *args]
            env.update(_srun_env(node, port))
        else:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
                   "--node-rank", str(node), "--master-addr", "127.0.0.1", "--master-port", str(port),
                   "-m", "an2dl", *args]
        out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
        logs.append((out, err))
        procs.append(subprocess.Popen(cmd, env=_env(env), stdout=out, stderr=err, text=True,
                                      start_new_session=True))
    done = []
    try:
        deadline = time.monotonic() + timeout
        for p in procs:
            p.wait(timeout=max(deadline - time.monotonic(), 1))
        for p, (out, err) in zip(procs, logs):
            out.seek(0)
            err.seek(0)
            done.append(subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read()))
    finally:
        for p in procs:
            if p.poll() is None:  # a node left hanging: end its launcher and worker
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for out, err in logs:
            out.close()
            err.close()
    return done


def _max_weight_difference(a, b) -> float:
    wa, wb = load_file(str(a / "model" / "model.safetensors")), load_file(str(b / "model" / "model.safetensors"))
    assert wa["classifier.weight"].dtype == torch.float64
    assert wa.keys() == wb.keys()
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The reference: the same run in one process (same global batch of 32)."""
    from conftest import run_cli

    path = tmp_path_factory.mktemp("single") / "run"
    r = run_cli(*RUN, "--run-dir", str(path), env={"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    return path


def test_two_nodes_under_torchrun_match_one_process(single, tmp_path):
    run = tmp_path / "run"
    n0, n1 = _two_nodes(*RUN, "--set", "trainer.num_nodes=2", "--run-dir", str(run))
    assert n0.returncode == 0, n0.stderr[-3000:]
    assert n1.returncode == 0, n1.stderr[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in n1.stderr
    # rank 0 alone prints the metrics and the run directory; rank 1 writes nothing to stdout
    assert n0.stdout.strip().splitlines()[-1] == str(run)
    assert n1.stdout.strip() == ""
    assert json.loads((run / "env.json").read_text())["world_size"] == 2
    ra = json.loads((single / "results.json").read_text())
    rb = json.loads((run / "results.json").read_text())
    assert ra["steps"] == rb["steps"] == 80
    assert _max_weight_difference(single, run) < 1e-10
    for key in ("test/loss", "val/loss", "train/loss", "test/accuracy"):
        assert rb["metrics"][key] == pytest.approx(ra["metrics"][key], abs=1e-6), key
    # one checkpoint per epoch, written once (by rank 0), with the job's layout
    state = json.loads((run / "checkpoints" / "000000080" / "state.json").read_text())
    assert state["trainer"]["world_size"] == 2
    assert not list(run.glob(".an2dl.lock"))


def test_two_tasks_started_by_srun_without_torchrun_match_one_process(single, tmp_path):
    """Every process started directly by ``srun``: the run directory is claimed by SLURM_PROCID 0 alone."""
    run = tmp_path / "run"
    n0, n1 = _two_nodes(*RUN, "--set", "trainer.num_nodes=2", "--run-dir", str(run), launcher="srun")
    assert n0.returncode == 0, n0.stderr[-3000:]
    assert n1.returncode == 0, n1.stderr[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in n1.stderr
    assert n0.stdout.strip().splitlines()[-1] == str(run) and n1.stdout.strip() == ""
    assert json.loads((run / "env.json").read_text())["world_size"] == 2
    assert _max_weight_difference(single, run) < 1e-10


def test_a_rank_killed_mid_run_then_both_nodes_resume_to_the_uninterrupted_weights(single, tmp_path):
    run = tmp_path / "run"
    # node 1's worker is killed (SIGKILL) after batch 50, in the second epoch: the epoch-1 checkpoint
    # (step 40) is the last one; rank 0 fails on its next collective with the peer gone
    killed = _two_nodes(*RUN, "--set", "trainer.num_nodes=2", "--run-dir", str(run),
                        node_env={1: {"AN2DL_FAULT": "train:batch-end@50"}})
    assert killed[1].returncode != 0 and "SIGKILL" in killed[1].stderr, killed[1].stderr[-3000:]
    assert killed[0].returncode != 0
    assert (run / "checkpoints" / "LATEST").read_text().strip() == "000000040"
    assert not (run / "results.json").exists()

    n0, n1 = _two_nodes("resume", str(run), "--quiet")
    assert n0.returncode == 0, n0.stderr[-3000:]
    assert n1.returncode == 0, n1.stderr[-3000:]
    assert json.loads((run / "results.json").read_text())["steps"] == 80
    assert _max_weight_difference(single, run) < 1e-10


def test_several_nodes_without_a_launcher_are_refused_with_the_way_to_start_them(tmp_path):
    env = _env()
    for var in ("WORLD_SIZE", "SLURM_NTASKS", "NODE_RANK", "RANK", "LOCAL_RANK"):
        env.pop(var, None)
    r = subprocess.run([sys.executable, "-m", "an2dl", *RUN, "--set", "trainer.num_nodes=2", "--run-dir",
                        str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "num_nodes=2" in r.stderr and "torchrun --nnodes 2" in r.stderr, r.stderr[-2000:]


_RESUME_SCRIPT = '''
import sys, torch
from an2dl.data import ArrayDataset
from an2dl.engine import OptimizerSpec, Trainer
from an2dl.models import get_model
from an2dl.tasks import ClassificationTask
devices, run_dir, resume = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
g = torch.Generator().manual_seed(0)
x, y = torch.rand(200, 1, 32, 32, generator=g, dtype=torch.float64), torch.randint(0, 10, (200,), generator=g)
torch.manual_seed(0)
task = ClassificationTask(get_model("lenet5"), num_classes=10, optimizer=OptimizerSpec("sgd", lr=0.05, momentum=0.9))
t = Trainer(max_epochs=2, batch_size=32, accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto",
            precision="64-true", run_dir=run_dir, progress=False, val_every_n_epochs=None)
t.fit(task, ArrayDataset(x, y), ckpt_path="last" if resume else None)
if t.is_global_zero:
    torch.save(task.state_dict(), run_dir + "/final.pt")
t.close()
'''


def test_a_plain_trainer_checkpoint_of_two_processes_resumes_on_one(tmp_path):
    """The batch is global, so a 2-process checkpoint continues on 1 process to the 1-process weights
    (docs/scaling.md: resuming on a different number of devices)."""
    script = tmp_path / "fit.py"
    script.write_text(_RESUME_SCRIPT)

    def fit(devices: int, run: str, resume: bool, extra: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(script), str(devices), str(tmp_path / run), "1" if resume else "0"],
                              env=_env(extra), capture_output=True, text=True, timeout=120, cwd=tmp_path)

    # both processes are killed after batch 10 of 14 (7 per epoch): the epoch-1 checkpoint (step 7) remains
    killed = fit(2, "two", False, {"AN2DL_FAULT": "train:batch-end@10"})
    assert killed.returncode != 0
    state = json.loads((tmp_path / "two" / "checkpoints" / "000000007" / "state.json").read_text())
    assert state["trainer"]["world_size"] == 2
    resumed = fit(1, "two", True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    whole = fit(1, "one", False)
    assert whole.returncode == 0, whole.stderr[-3000:]
    a, b = torch.load(tmp_path / "one" / "final.pt"), torch.load(tmp_path / "two" / "final.pt")
    assert a.keys() == b.keys() and all(v.dtype == torch.float64 for v in a.values() if v.is_floating_point())
    assert max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point()) < 1e-10
