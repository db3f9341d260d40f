"""The cost columns of metrics.csv (docs/training.md §1.5): epoch_seconds without the one-time C++ build, and the
peak memory of each epoch's training pass (pmsn.memory)."""

import csv
import mmap


from pmsn import memory
from pmsn.ops import cpp_build
from pmsn.ops.cpp_build import BuildRecord, load_extension
from pmsn.train import loop, resolve_config, train

SLOW_BUILD_S = 1.5


def test_epoch_seconds_exclude_a_build_during_the_epoch(tiny, monkeypatch):
    """A kernel compiled on first use inside epoch 1 (a slow fake build) counts in the wall time, not in
    epoch_seconds or the samples/s of that epoch."""
    monkeypatch.setattr(cpp_build, "_modules", dict(cpp_build._modules))  # restored afterwards: no fake stays
    monkeypatch.setattr(cpp_build, "_records", dict(cpp_build._records))
    real_build = cpp_build._build

    def build(name, source, cflags, ldflags):
        if name != "pmsn_fake_slow_kernel":
            return real_build(name, source, cflags, ldflags)
        loop.time.sleep(SLOW_BUILD_S)
        return None, BuildRecord(name, None, True, None)
    monkeypatch.setattr(cpp_build, "_build", build)
    forward_loss = loop._forward_loss

    def forward_loss_building_once(*args, **kwargs):
        load_extension("pmsn_fake_slow_kernel", "fake.cpp")  # the first call "compiles", later calls read a dict
        return forward_loss(*args, **kwargs)
    monkeypatch.setattr(loop, "_forward_loss", forward_loss_building_once)
    built = cpp_build.build_seconds()
    result = train(resolve_config(overrides=tiny + ["data.valid_fraction=0", "name=built"]), quiet=True)
    assert cpp_build.build_seconds() - built >= SLOW_BUILD_S
    first, second = result.history
    assert first["epoch_seconds"] < SLOW_BUILD_S / 3 and second["epoch_seconds"] < SLOW_BUILD_S / 3
    assert first["wall_seconds"] >= SLOW_BUILD_S  # the wall clock still counts it
    assert first["train_samples_per_s"] > 96 / (SLOW_BUILD_S / 3)


def test_peak_memory_per_epoch_in_metrics(tiny):
    result = train(resolve_config(overrides=tiny + ["name=peak"]), quiet=True)
    rows = list(csv.DictReader((result.run_dir / "metrics.csv").open()))
    assert [row["memory_method"] for row in rows] == ["rss-hwm"] * 2  # Linux lets a process reset its mark
    rss_mib = memory.current_rss_bytes() / memory.MIB
    for row in rows:  # the resident set of the training process: above torch's own libraries, near today's RSS
        assert 50 < float(row["peak_memory_mib"]) < 4 * rss_mib


def test_refused_clear_refs_records_the_process_peak(tiny, monkeypatch, tmp_path):
    monkeypatch.setattr(memory, "_CLEAR_REFS", str(tmp_path / "no-such-dir" / "clear_refs"))
    result = train(resolve_config(overrides=tiny + ["epochs=1", "name=refused"]), quiet=True)
    assert result.history[0]["memory_method"] == "process-peak-rss"
    # peak_memory_mib is rounded to 0.1 MiB
    assert (result.history[0]["peak_memory_mib"] - 0.05) * memory.MIB <= memory.process_peak_rss_bytes()


def test_peak_resets_and_sees_an_allocation():
    method = memory.reset_peak("cpu")
    assert method == "rss-hwm"
    before = memory.peak_bytes("cpu", method)
    # fresh anonymous pages, written so resident (an allocator may serve a tensor from pages it already holds)
    block = mmap.mmap(-1, 64 * memory.MIB)
    block.write(b"\1" * (64 * memory.MIB))
    grown = memory.peak_bytes("cpu", method)
    assert grown - before >= 60 * memory.MIB
    block.close()
    memory.reset_peak("cpu")
    assert memory.peak_bytes("cpu", method) < grown - 30 * memory.MIB  # the mark came down with the RSS
