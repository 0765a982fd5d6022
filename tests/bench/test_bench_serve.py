"""The run browser benchmark's parts on a few runs (the full measurement is `an2dl bench serve`)."""

from __future__ import annotations

import pytest

from an2dl.bench import BENCHMARKS
from an2dl.bench.serve import page_times, synthetic_runs
from an2dl.serve import RunIndex


def test_synthetic_runs_are_listed_as_finished_and_the_page_is_timed(tmp_path):
    pytest.importorskip("starlette")
    from an2dl.serve.app import ServerThread

    assert "serve" in BENCHMARKS
    dirs = synthetic_runs(tmp_path / "runs", 12, epochs=4)
    runs = RunIndex(tmp_path / "runs").runs()
    assert len(runs) == len(dirs) == 12 and {s.status for s in runs} == {"finished"}
    assert len({s.recipe for s in runs}) == 8 and all(s.wall_s == pytest.approx(0.2) for s in runs)
    with ServerThread(tmp_path / "runs") as server:
        times = page_times(server.url, 2)
    assert len(times) == 2 and all(t > 0 for t in times)
