"""Builds of the C++ extensions cannot hang or thrash: keyed cache, stale-lock recovery, bounded waits, `pmsn build`.

The build tests compile tiny dedicated sources into a fresh TORCH_EXTENSIONS_DIR in a subprocess with a timeout,
so a regression fails instead of hanging. The kill-a-build test compiles against the torch headers (~30-60 s on
2 cores) and is marked ``slow``: it runs in CI, once; ``-m "not slow"`` skips it locally.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

import pmsn.ops.cli as ops_cli
from pmsn.cli import main
from pmsn.ops import cpp_build
from pmsn.ops.cpp_build import BASE_CFLAGS, BASE_LDFLAGS, cpu_cflags, keyed_name, load_extension

needs_compiler = pytest.mark.skipif(not (shutil.which(os.environ.get("CXX", "c++")) and shutil.which("ninja")),
                                    reason="no C++ compiler or ninja here")

# A module built from Python.h alone: compiles in a few seconds (torch passes -DTORCH_EXTENSION_NAME=<name>).
PLAIN_SOURCE = """
#include <Python.h>
#define PMSN_CAT(a, b) a##b
#define PMSN_INIT(name) PMSN_CAT(PyInit_, name)
#define PMSN_STR2(x) #x
#define PMSN_STR(x) PMSN_STR2(x)
static PyObject* answer(PyObject*, PyObject*) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, nullptr}, {nullptr, nullptr, 0, nullptr}};
static PyModuleDef module_def = {PyModuleDef_HEAD_INIT, PMSN_STR(TORCH_EXTENSION_NAME), nullptr, -1, methods};
PyMODINIT_FUNC PMSN_INIT(TORCH_EXTENSION_NAME)(void) { return PyModule_Create(&module_def); }
"""

# A torch extension: slow enough to compile (torch headers) that it can be killed part-way.
TORCH_SOURCE = """
#include <torch/extension.h>
torch::Tensor add_one(torch::Tensor x) { return x + 1; }
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("add_one", &add_one); }
"""

BUILD_SCRIPT = """
import sys
from pmsn.ops.cpp_build import load_extension
module = load_extension(sys.argv[1], sys.argv[2])
print("result:", eval(sys.argv[3], {"module": module}))
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _build_dir(tmp_path: Path, name: str, source: Path, isa: str | None = None) -> Path:
    """Where a subprocess with TORCH_EXTENSIONS_DIR=tmp_path/ext (and this PMSN_CPU_ISA) builds ``name``."""
    return tmp_path / "ext" / keyed_name(name, source, cpu_cflags(isa), BASE_LDFLAGS)


def _build_command(name: str, source: Path, expression: str) -> list[str]:
    return [sys.executable, "-c", BUILD_SCRIPT, name, str(source), expression]


def _build_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "TORCH_EXTENSIONS_DIR": str(tmp_path / "ext")}


def _build(tmp_path: Path, name: str, source: Path, expression: str, timeout: float):
    """Load ``name`` in a fresh process and evaluate ``expression`` on the module; fails (not hangs) on timeout."""
    return subprocess.run(_build_command(name, source, expression), env=_build_env(tmp_path), capture_output=True,
                          text=True, timeout=timeout)


def test_cache_key_covers_source_headers_and_flags_and_nothing_else(tmp_path):
    header = _write(tmp_path / "helper.h", "inline int helper() { return 1; }\n")
    source = _write(tmp_path / "kernel.cpp", '#include "helper.h"\nint f() { return helper(); }\n')
    key = keyed_name("pmsn_test_key", source, BASE_CFLAGS, BASE_LDFLAGS)
    assert key.startswith("pmsn_test_key_") and key.isidentifier()
    os.utime(source, (0, 0))  # a touch without a change keeps the build
    assert keyed_name("pmsn_test_key", source, BASE_CFLAGS, BASE_LDFLAGS) == key
    assert keyed_name("pmsn_test_key", source, (*BASE_CFLAGS, "-ffp-contract=off"), BASE_LDFLAGS) != key
    assert keyed_name("pmsn_test_key", source, BASE_CFLAGS, ()) != key
    _write(header, "inline int helper() { return 2; }\n")
    header_key = keyed_name("pmsn_test_key", source, BASE_CFLAGS, BASE_LDFLAGS)
    _write(source, '#include "helper.h"\nint f() { return helper() + 1; }\n')
    assert len({key, header_key, keyed_name("pmsn_test_key", source, BASE_CFLAGS, BASE_LDFLAGS)}) == 3


def test_cache_key_covers_the_compiler(tmp_path, monkeypatch):
    source = _write(tmp_path / "kernel.cpp", "int f() { return 1; }\n")
    key = keyed_name("pmsn_test_key", source, BASE_CFLAGS, BASE_LDFLAGS)
    monkeypatch.setenv("CXX", "clang++")
    assert keyed_name("pmsn_test_key", source, BASE_CFLAGS, BASE_LDFLAGS) != key


def test_cpu_isa_setting_chooses_the_march_flag_and_the_cache_key(tmp_path, monkeypatch):
    source = _write(tmp_path / "kernel.cpp", "int f() { return 1; }\n")
    monkeypatch.delenv("PMSN_CPU_ISA", raising=False)
    assert cpu_cflags() == BASE_CFLAGS == cpu_cflags("native")  # the default: this CPU's instruction set
    avx2 = cpu_cflags("avx2")
    assert "-march=x86-64-v3" in avx2 and not any(flag == "-march=native" for flag in avx2)
    assert [flag for flag in avx2 if not flag.startswith("-march=")] == [
        flag for flag in BASE_CFLAGS if not flag.startswith("-march=")]
    for value in ("avx2", " AVX2 "):
        monkeypatch.setenv("PMSN_CPU_ISA", value)
        assert cpu_cflags() == avx2
    monkeypatch.setenv("PMSN_CPU_ISA", "")
    assert cpu_cflags() == BASE_CFLAGS
    native_key = keyed_name("pmsn_test_key", source, cpu_cflags("native"), BASE_LDFLAGS)
    assert keyed_name("pmsn_test_key", source, avx2, BASE_LDFLAGS) != native_key


def test_unknown_cpu_isa_is_one_error_line_naming_the_choices(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cpp_build, "_modules", {})
    monkeypatch.setattr(cpp_build, "_records", {})
    monkeypatch.setenv("PMSN_CPU_ISA", "avx512")
    source = _write(tmp_path / "plain.cpp", PLAIN_SOURCE)
    with pytest.raises(ValueError, match=r"^PMSN_CPU_ISA must be one of native, avx2, got 'avx512'$"):
        load_extension("pmsn_test_bad_isa", source)
    assert cpp_build.build_records() == {}  # refused before any build was tried
    assert main(["build"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "pmsn build: error: PMSN_CPU_ISA must be one of native, avx2, got 'avx512'\n"


@needs_compiler
def test_avx2_build_lives_beside_the_native_build(tmp_path):
    source = _write(tmp_path / "plain.cpp", PLAIN_SOURCE)
    env = {**_build_env(tmp_path), "PMSN_CPU_ISA": "avx2"}
    result = subprocess.run(_build_command("pmsn_test_isa", source, "module.answer()"), env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "result: 42"
    avx2_dir, native_dir = (_build_dir(tmp_path, "pmsn_test_isa", source, isa) for isa in ("avx2", "native"))
    assert avx2_dir != native_dir
    assert "-march=x86-64-v3" in (avx2_dir / "build.ninja").read_text()
    assert not native_dir.exists()


@needs_compiler
def test_first_build_says_what_and_where_and_a_cached_load_says_nothing(tmp_path):
    source = _write(tmp_path / "plain.cpp", PLAIN_SOURCE)
    first = _build(tmp_path, "pmsn_test_plain", source, "module.answer()", timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "result: 42"
    [line] = first.stderr.splitlines()
    build_dir = _build_dir(tmp_path, "pmsn_test_plain", source)
    assert line.startswith(f"pmsn: compiling the C++ kernel {build_dir.name} in {build_dir} ") and " s)" in line
    cached = _build(tmp_path, "pmsn_test_plain", source, "module.answer()", timeout=60)
    assert (cached.returncode, cached.stdout.strip(), cached.stderr) == (0, "result: 42", "")


@needs_compiler
def test_leftover_torch_lock_is_removed_with_a_warning_not_waited_on(tmp_path):
    source = _write(tmp_path / "plain.cpp", PLAIN_SOURCE)
    torch_lock = _build_dir(tmp_path, "pmsn_test_lock", source) / "lock"
    torch_lock.parent.mkdir(parents=True)
    torch_lock.touch()  # what a build killed while compiling leaves behind; torch alone would wait on it forever
    result = _build(tmp_path, "pmsn_test_lock", source, "module.answer()", timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "result: 42"
    assert f"RuntimeWarning: pmsn: removed the stale build lock {torch_lock} " in result.stderr
    assert not torch_lock.exists()


@needs_compiler
@pytest.mark.slow
def test_killed_build_is_recovered(tmp_path):
    source = _write(tmp_path / "tiny_torch.cpp", TORCH_SOURCE)
    build_dir = _build_dir(tmp_path, "pmsn_test_killed", source)
    first = subprocess.Popen(_build_command("pmsn_test_killed", source, "0"), env=_build_env(tmp_path),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (build_dir / "build.ninja").exists():  # torch takes its lock, then writes the ninja file
            assert first.poll() is None and time.monotonic() < deadline, "the first build never started compiling"
            time.sleep(0.05)
        time.sleep(1.0)  # ninja and the compiler are running now
    finally:
        first.kill()  # SIGKILL: no cleanup; ninja and the compiler keep running as orphans
        first.wait()
    assert (build_dir / "lock").exists()
    second = _build(tmp_path, "pmsn_test_killed", source, "module.add_one(__import__('torch').ones(2)).tolist()",
                    timeout=300)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "result: [2.0, 2.0]"
    assert "by a killed build to exit" in second.stderr  # waited for the orphaned compiler instead of racing it
    assert f"removed the stale build lock {build_dir / 'lock'}" in second.stderr


def test_waiting_for_a_live_build_is_announced_and_bounded(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    monkeypatch.setattr(cpp_build, "_modules", {})
    monkeypatch.setattr(cpp_build, "_records", {})
    monkeypatch.setattr(cpp_build, "LOCK_TIMEOUT_S", 1.0)
    source = _write(tmp_path / "plain.cpp", PLAIN_SOURCE)
    build_dir = _build_dir(tmp_path, "pmsn_test_busy", source)
    build_dir.mkdir(parents=True)
    with open(build_dir / "pmsn.lock", "a") as other_builder:  # another open file: flock treats it as another owner
        fcntl.flock(other_builder, fcntl.LOCK_EX)
        with pytest.warns(RuntimeWarning, match="could not be built.*TimeoutError"):
            assert load_extension("pmsn_test_busy", source) is None
    [line] = capsys.readouterr().err.splitlines()
    assert line == (f"pmsn: waiting for another process compiling {build_dir.name} (lock {build_dir / 'pmsn.lock'});"
                    " giving up after 1 s")


def test_compile_jobs_are_bounded_unless_the_user_chose(tmp_path, monkeypatch):
    import torch.utils.cpp_extension

    seen = []

    def recording_load(**kwargs):
        seen.append(os.environ.get("MAX_JOBS"))
        raise OSError("not building in this test")

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    monkeypatch.setattr(cpp_build, "_modules", {})
    monkeypatch.setattr(cpp_build, "_records", {})
    monkeypatch.setattr(torch.utils.cpp_extension, "load", recording_load)
    monkeypatch.delenv("MAX_JOBS", raising=False)
    source = _write(tmp_path / "plain.cpp", PLAIN_SOURCE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        load_extension("pmsn_test_jobs", source)
        monkeypatch.setenv("MAX_JOBS", "7")
        load_extension("pmsn_test_jobs_user", source)
    assert seen == [str(min(4, len(os.sched_getaffinity(0)))), "7"]
    assert os.environ["MAX_JOBS"] == "7"


@needs_compiler
def test_pmsn_build_reports_each_extension():
    # Uses the runner's extension cache (CI builds it first with `pmsn build`, so this mostly loads).
    result = subprocess.run([sys.executable, "-m", "pmsn", "build"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line, extension in zip(lines, ("pmsn_fused_cpu_", "pmsn_leaky_cpu_")):
        assert line.startswith(("compiled ", "loaded the cached build of ")) and f" {extension}" in line
        assert Path(line.rsplit(" in ", 1)[1]).is_dir()


def load_missing_extension() -> bool:
    """A registry entry for the failing-build test: an extension whose source does not exist."""
    return load_extension("pmsn_test_missing", Path(__file__).with_name("missing.cpp")) is not None


def test_pmsn_build_fails_with_one_line_per_failed_extension(monkeypatch, capsys):
    monkeypatch.setattr(cpp_build, "_modules", {})
    monkeypatch.setattr(cpp_build, "_records", {})
    monkeypatch.setattr(ops_cli, "_EXTENSIONS", ((__name__, "load_missing_extension"),))
    assert main(["build"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith("pmsn build: error: pmsn_test_missing could not be built (FileNotFoundError: ")
    assert "missing.cpp not found" in line
