"""The CPU an export's files were verified on, and running the files as a CPU of another class would.

Integer kernels differ by CPU class, not only in speed. On x86, int8 x int8 products are summed by
VPDPBUSD (VNNI: AVX512_VNNI, AVX_VNNI) or by AMX tiles in 32 bits; CPUs without VNNI (AVX2-only hosts:
AMD EPYC Rome/Milan, Intel before Cascade Lake; AVX-512 without VNNI: Skylake-SP) first add *pairs* of
u8 x s8 products in a saturating 16-bit lane (VPMADDUBSW). A file whose int8 weights use the full 8 bits
can then answer differently: 2 x 255 x 127 > 32,767. The zoo's x86 int8 files keep their weights within 7
bits (|q| <= 64: 2 x 255 x 64 = 32,640 cannot saturate), so their integer arithmetic is the same on every
x86 class; the digits MLP's files give identical outputs on this host and on an emulated AVX2 host
(`benchmarks/int8_cpu_class.py`, RESULTS.md).

`host()` names this machine's class and the flags that choose the kernels; export and `zoo verify` record
it. `run_as("avx2", ...)` runs ONNX, LiteRT and OpenVINO files as an AVX2-only host would, on this machine:
ONNX Runtime and LiteRT under QEMU's user-mode emulator with an AMD EPYC Rome CPU model (their kernels
pick AVX2 code from CPUID; `apt-get install qemu-user`), OpenVINO with its oneDNN kernels capped at AVX2
(`ONEDNN_MAX_CPU_ISA=AVX2`, oneDNN's own switch).
"""

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from export.common import ExportError

# The flags that choose int8/bf16 kernels (x86: /proc/cpuinfo `flags`; Arm: `Features`).
KERNEL_FLAGS = ("sse4_1", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
                "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp", "i8mm", "bf16", "sve")
# Classes whose int8 kernels sum u8 x s8 pairs in saturating 16 bits.
SATURATING = ("avx2", "avx512")
# Emulated classes: QEMU's CPU model for the runtimes that read CPUID, oneDNN's ISA cap for OpenVINO.
EMULATED = {"avx2": {"qemu_cpu": "EPYC-Rome", "onednn_isa": "AVX2",
                     "model": "AVX2-only x86 (emulated: ONNX Runtime and LiteRT under QEMU's AMD EPYC Rome model, "
                              "OpenVINO with oneDNN capped at AVX2; no AVX-512, no VNNI)",
                     "flags": ["sse4_1", "avx", "avx2", "fma", "f16c"]}}
EMULATED_FORMATS = ("onnx", "tflite", "openvino")
QEMU = "qemu-x86_64"
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpu_runner.py")


def int8_class(flags, machine=None):
    """The int8 kernel class of a CPU with `flags`: x86 `amx`, `avx512_vnni`, `avx_vnni` (no saturation),
    `avx512`, `avx2` (saturating pairs), `sse`; Arm `arm64_i8mm`, `arm64_dotprod`, `arm64`."""
    flags = set(flags)
    machine = (machine or platform.machine()).lower()
    if machine in ("aarch64", "arm64"):
        return "arm64_i8mm" if "i8mm" in flags else "arm64_dotprod" if "asimddp" in flags else "arm64"
    for name, needed in (("amx", "amx_int8"), ("avx512_vnni", "avx512_vnni"), ("avx_vnni", "avx_vnni"),
                         ("avx512", "avx512bw"), ("avx2", "avx2")):
        if needed in flags:
            return name
    return "sse" if flags else "unknown"


def _cpuinfo():
    """`(model name, flags)` from /proc/cpuinfo (Linux); elsewhere the platform's processor and no flags."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return platform.processor() or platform.machine(), []
    model, flags = None, []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model") and model is None:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = value.split()
    return model or platform.machine(), flags


def host():
    """This machine's CPU as an export records it: model, architecture, the kernel-choosing flags it has,
    and its int8 class (`int8_class`)."""
    model, flags = _cpuinfo()
    found = [f for f in KERNEL_FLAGS if f in set(flags)]
    described = {"model": model, "machine": platform.machine(), "flags": found,
                 "int8_class": int8_class(flags), "emulated": False}
    if os.environ.get("ONEDNN_MAX_CPU_ISA"):  # OpenVINO's kernels capped below what the CPU has
        described["onednn_max_cpu_isa"] = os.environ["ONEDNN_MAX_CPU_ISA"]
    return described


def emulated(cpu_class):
    """The `host()`-like record of an emulated class."""
    spec = EMULATED[cpu_class]
    return {"model": spec["model"], "machine": "x86_64", "flags": list(spec["flags"]), "int8_class": cpu_class,
            "emulated": True}


def describe(cpu):
    """One line: 'Intel Xeon ... (x86_64, int8 class avx512_vnni: avx2 avx512_vnni amx_int8 ...)'."""
    shown = " ".join(cpu.get("flags") or []) or "flags unknown"
    return f"{cpu.get('model', '?')} ({cpu.get('machine', '?')}, int8 class {cpu.get('int8_class', '?')}: {shown})"


def same_class(a, b):
    return bool(a and b) and a.get("int8_class") == b.get("int8_class") and a.get("machine") == b.get("machine")


def emulation_missing(cpu_class, formats=EMULATED_FORMATS):
    """Why `run_as(cpu_class, ...)` cannot run files of `formats` here (a sentence naming the fix), or None."""
    if cpu_class not in EMULATED:
        return f"no emulation of CPU class {cpu_class!r}; the classes that can be emulated: {sorted(EMULATED)}."
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return f"emulating an x86 {cpu_class} host needs an x86-64 machine (this is {platform.machine()})."
    if {"onnx", "tflite"} & set(formats) and not shutil.which(QEMU):
        return (f"emulating an {cpu_class} host runs ONNX Runtime and LiteRT under QEMU's user-mode emulator, "
                f"which is not installed: apt-get install qemu-user (it provides {QEMU}).")
    return None


def run_as(cpu_class, out_dir, entries, inputs, *, timeout=3600):
    """`{key: outputs}` of the export files `entries` (`{manifest key: entry}`) on `inputs` (`{input name:
    array}`), run as a host of `cpu_class` would run them (see the module's docstring). Each runtime runs in
    a child process that imports only NumPy and that runtime."""
    missing = emulation_missing(cpu_class, {e["format"] for e in entries.values()})
    if missing:
        raise ExportError(f"Cannot run the files as an {cpu_class} host: {missing}")
    spec = EMULATED[cpu_class]
    results = {}
    with tempfile.TemporaryDirectory(prefix="zoo-cpu-") as tmp:
        np.savez(os.path.join(tmp, "inputs.npz"), **{k: np.asarray(v) for k, v in inputs.items()})
        groups = {"qemu": {k: e for k, e in entries.items() if e["format"] in ("onnx", "tflite")},
                  "onednn": {k: e for k, e in entries.items() if e["format"] == "openvino"}}
        for how, group in groups.items():
            if not group:
                continue
            job = {"folder": os.path.abspath(out_dir), "inputs": os.path.join(tmp, "inputs.npz"),
                   "out": os.path.join(tmp, f"{how}.npz"), "files": group}
            with open(os.path.join(tmp, f"{how}.json"), "w") as f:
                json.dump(job, f)
            command = [sys.executable, RUNNER, os.path.join(tmp, f"{how}.json")]
            if how == "qemu":
                command = [QEMU, "-cpu", spec["qemu_cpu"]] + command
            env = {**os.environ, "ONEDNN_MAX_CPU_ISA": spec["onednn_isa"], "PYTHONNOUSERSITE": "1"}
            try:
                done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise ExportError(f"Running {sorted(group)} as an emulated {cpu_class} host took over {timeout} s "
                                  "and was stopped: emulation runs the kernels tens of times slower than the "
                                  "CPU (recurrent models most), so check on a real host of that class, or export "
                                  "with fewer verification examples (--eval-size).") from None
            if done.returncode != 0:
                tail = [line for line in done.stderr.splitlines() if "TCG doesn't support" not in line][-5:]
                raise ExportError(f"Running {sorted(group)} as an emulated {cpu_class} host failed "
                                  f"(exit {done.returncode}): {' | '.join(tail)}")
            with np.load(job["out"]) as f:
                results.update({k: f[k] for k in f.files})
    unknown = sorted(set(entries) - set(results))
    if unknown:
        raise ExportError(f"No emulation for the formats of {unknown}: only {', '.join(EMULATED_FORMATS)} files "
                          f"run as an emulated {cpu_class} host.")
    return results
