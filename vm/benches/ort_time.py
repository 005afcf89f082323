#!/usr/bin/env python3
"""Time onnxruntime on one ONNX model, single-threaded, for the inference bench.

Spawned by `vm/benches/inference.rs` with the project's venv (`just setup`):
    .venv/bin/python vm/benches/ort_time.py MODEL --input NAME=PATH [--input ...]
        --warmup N --runs N --time SECONDS --min-runs N

Loads MODEL with one intra-op and one inter-op thread and sequential execution
(CPUExecutionProvider, default graph optimizations), feeds the .npy inputs by name,
runs `warmup` untimed inferences, then up to `runs` timed ones, stopping early once
`time` seconds are spent and at least `min-runs` are done (the bench's own rule).
Prints one JSON object on stdout:
    {"median_s": float, "runs": int, "ort_version": str, "threads": int}
where `threads` is the process's thread count after the runs (Linux; -1 elsewhere).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import onnxruntime as ort


def process_threads() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--input", action="append", default=[], metavar="NAME=PATH")
    ap.add_argument("--warmup", type=int, required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--time", type=float, required=True, help="seconds")
    ap.add_argument("--min-runs", type=int, required=True)
    args = ap.parse_args()

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])

    feeds = {}
    for item in args.input:
        name, sep, path = item.partition("=")
        if not sep:
            ap.error(f"--input `{item}` is not NAME=PATH")
        feeds[name] = np.load(path)
    wanted = sorted(i.name for i in sess.get_inputs())
    if sorted(feeds) != wanted:
        sys.exit(f"{args.model} takes inputs {wanted}, but the bench gave {sorted(feeds)}")

    for _ in range(args.warmup):
        sess.run(None, feeds)
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < max(args.runs, 1):
        t = time.perf_counter()
        sess.run(None, feeds)
        samples.append(time.perf_counter() - t)
        if len(samples) >= min(args.min_runs, args.runs) and time.perf_counter() - start > args.time:
            break
    samples.sort()
    print(json.dumps({
        "median_s": samples[len(samples) // 2],
        "runs": len(samples),
        "ort_version": ort.__version__,
        "threads": process_threads(),
    }))


if __name__ == "__main__":
    main()
