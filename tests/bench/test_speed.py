"""``pmsn bench speed``: smoke runs at tiny sizes, the ratio/skip bookkeeping, and the peak-memory measure.

No timing assertions: only shapes of the output, statuses and exact arithmetic on given times.
"""

from __future__ import annotations

import csv

import pytest
import torch

from pmsn.bench import malloc_env, speed, timing
from pmsn.bench.candidates import candidates
from pmsn.bench.memory import PeakMemory
from pmsn.bench.speed import CSV_FIELDS, result_rows
from pmsn.bench.timing import BenchConfig, Cell, run_bench
from pmsn.cli import main
from pmsn.tables import write_csv

TINY = dict(steps=(8, 16), batch=2, channels=4, repeats=1, memory="inprocess")


def _quiet(_message: str) -> None:
    pass


def test_cli_smoke_writes_csv_and_png_with_every_neuron(tmp_path, capsys):
    out = tmp_path / "speed"
    code = main(["bench", "speed", "--T", "8", "16", "--batch", "2", "--channels", "4", "--repeats", "1",
                 "--memory", "inprocess", "--malloc-env", "warn", "--out", str(out)])
    assert code == 0
    with open(out / "speed.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert tuple(reader.fieldnames) == CSV_FIELDS
    names = [name for name, candidate in candidates().items() if candidate.by_default]
    assert len(rows) == 2 * len(names)
    assert {(row["neuron"], int(row["T"])) for row in rows} == {(name, t) for name in names for t in (8, 16)}
    for row in rows:
        assert row["status"] == "ok", row
        assert float(row["train_ms"]) > 0 and float(row["infer_ms"]) > 0
        assert float(row["train_peak_mib"]) >= 0 and row["memory_method"]
        assert (row["batch"], row["channels"], row["repeats"]) == ("2", "4", "1")
    reference = rows[0]["ref_lif"]
    for row in (r for r in rows if r["neuron"] == reference):
        assert float(row["train_vs_ref_lif"]) == 1.0 and float(row["infer_vs_ref_lif"]) == 1.0
    assert (out / "speed.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "T = 16" in printed and "PMSN n=5" in printed
    assert "MALLOC_" in printed  # warned, did not re-execute pytest


def test_pmsn_paths_are_reported():
    cells = run_bench(BenchConfig(**{**TINY, "steps": (8,)}, neurons=("pmsn", "pmsn_fft")), log=_quiet)
    paths = {cell.candidate.name: cell.path for cell in cells}
    assert paths["pmsn_fft"] == "fft"
    assert paths["pmsn"] in ("fused", "fft")


def test_cells_over_the_time_budget_are_skipped_and_marked(tmp_path):
    config = BenchConfig(**TINY, neurons=("lif", "pmsn"), max_seconds=1e-9)
    cells = run_bench(config, log=_quiet)
    rows = result_rows(cells, config)
    assert len(rows) == 4
    for row in rows:
        assert row["status"].startswith("skipped"), row
        assert row["train_ms"] is None and row["train_vs_ref_lif"] is None
    assert all("at T=8" in row["status"] for row in rows if row["T"] == 16)
    write_csv(tmp_path / "speed.csv", rows, speed.CSV_FIELDS)  # empty cells are written as blanks
    speed.write_plot(rows, tmp_path / "speed.png", "all skipped")
    with open(tmp_path / "speed.csv", newline="") as handle:
        assert [row["train_ms"] for row in csv.DictReader(handle)] == [""] * 4


def test_a_one_time_build_in_the_warm_up_does_not_skip_a_cell(monkeypatch):
    # the warm-up of the first cell takes 2 x 100 s, of which 200 s is the C++ build (as on a fresh kernel cache)
    calls, real_timed = [], timing._timed
    monkeypatch.setattr(timing, "_timed", lambda device, run: 100.0 if len(calls.append(1) or calls) <= 2
                        else real_timed(device, run))
    built = iter([0.0] + [200.0] * 10)
    monkeypatch.setattr(timing, "build_seconds", lambda: next(built))
    config = BenchConfig(**{**TINY, "steps": (8,), "memory": "off"}, neurons=("lif",), max_seconds=60.0)
    cells = run_bench(config, log=_quiet)
    assert [cell.status for cell in cells] == ["ok"] and len(cells[0].train_s) == 1


def _cell(name: str, steps: int, train: list[float], infer: list[float]) -> Cell:
    return Cell(candidates()[name], steps, train_s=train, infer_s=infer)


def test_ratios_are_median_time_over_reference_median_at_the_same_T():
    config = BenchConfig(steps=(32, 64))
    cells = [_cell("lif", 32, [0.010, 0.030, 0.020], [0.004, 0.002, 0.003]),
             _cell("psn", 32, [0.005], [0.001]),
             _cell("pmsn", 32, [0.004, 0.005, 0.006], [0.0015]),
             _cell("pmsn", 64, [0.008], [0.003])]  # no reference at T = 64
    rows = {(row["neuron"], row["T"]): row for row in result_rows(cells, config)}
    pmsn = rows[("pmsn", 32)]
    assert (pmsn["ref_lif"], pmsn["ref_psn"]) == ("lif", "psn")  # no SpikingJelly cell: this package's neurons
    assert pmsn["train_ms"] == pytest.approx(5.0)
    assert pmsn["train_vs_ref_lif"] == pytest.approx(5.0 / 20.0)
    assert pmsn["infer_vs_ref_lif"] == pytest.approx(1.5 / 3.0)
    assert pmsn["train_vs_ref_psn"] == pytest.approx(1.0)
    assert pmsn["infer_vs_ref_psn"] == pytest.approx(1.5)
    assert rows[("pmsn", 64)]["train_vs_ref_lif"] is None
    table = speed.format_table(list(rows.values()))
    assert "T = 32" in table and "T = 64" in table and "0.25" in table


def test_estimate_from_the_previous_T_scales_with_the_time_power():
    config = BenchConfig(repeats=4, warmup=1, max_seconds=10.0)
    linear = _cell("lif", 100, [0.1], [0.1])  # 0.2 s per call pair
    quadratic = _cell("psn", 100, [0.1], [0.1])
    assert timing._skip_estimate(linear, 200, config) == ""  # 0.2 * 2 * 5 = 2 s
    assert timing._skip_estimate(quadratic, 200, config) == ""  # 0.2 * 4 * 5 = 4 s
    assert timing._skip_estimate(quadratic, 400, config).startswith("skipped: estimated 16 s")
    assert timing._skip_estimate(linear, 1600, config).startswith("skipped: estimated 16 s")
    assert timing._skip_estimate(None, 100, config) == ""


@pytest.mark.parametrize("change, message", [
    (dict(neurons=("nope",)), "unknown neuron"),
    (dict(steps=(0,)), "--T"),
    (dict(batch=0), "--batch"),
    (dict(dtype="float16"), "--dtype"),
    (dict(memory="maybe"), "--memory"),
])
def test_bad_settings_raise_value_error_naming_them(change, message):
    with pytest.raises(ValueError, match=message):
        run_bench(BenchConfig(**{**TINY, **change}), log=_quiet)


def test_peak_memory_sees_a_touched_tensor_and_not_what_existed_before():
    existing = torch.ones(16 * 1024 * 1024)  # 64 MiB, allocated before the block
    with PeakMemory("cpu") as peak:
        block = torch.ones(16 * 1024 * 1024)  # 64 MiB touched inside
        del block
    assert existing.sum() > 0
    if peak.method == "unavailable":
        pytest.skip("no /proc/self/status on this system")
    assert 60 <= peak.mib < 64 + 48


def test_memory_subprocess_measures_each_cell(tmp_path):
    config = BenchConfig(steps=(8, 16), batch=2, channels=4, repeats=1, neurons=("lif",), memory="subprocess")
    cells = run_bench(config, log=_quiet)
    assert [cell.steps for cell in cells] == [8, 16]
    for cell in cells:
        assert cell.train_peak_mib is not None and cell.train_peak_mib >= 0
        assert cell.memory_method in ("rss-hwm", "ru_maxrss")


def test_malloc_env_warns_instead_of_reexecuting_a_host_program(monkeypatch):
    for key in malloc_env.BENCH_MALLOC_ENV:
        monkeypatch.delenv(key, raising=False)
    messages = []
    malloc_env.ensure_malloc_env("reexec", log=messages.append)  # pytest's argv is not the bench: must not exec
    assert len(messages) == 1 and "MALLOC_MMAP_THRESHOLD_" in messages[0]
