#!/usr/bin/env python3
"""Time greedy generation with onnxruntime on a decoder exported with its cache
(`fixtures/gpt.py`), for `benches/generate.rs`:
    .venv/bin/python benches/ort_generate.py MODEL --prompt-ids 1,2,3 --new N --threads T --runs R

Each run: one prefill over the prompt with an empty cache, then one step per
further token over the cache, argmax in numpy (what the generation program
computes in fixed point). Prints one JSON object:
    {"median_s": float, "runs": int, "tokens": [int], "ort_version": str}
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import onnxruntime as ort


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--prompt-ids", required=True)
    ap.add_argument("--new", type=int, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])
    past = [i for i in sess.get_inputs() if i.name.startswith("past")]
    outs = [o.name for o in sess.get_outputs()]
    prompt = [int(x) for x in args.prompt_ids.split(",")]

    def generate():
        p = len(prompt)
        feed = {
            "input_ids": np.array([prompt], dtype=np.int64),
            "attention_mask": np.ones((1, p), dtype=np.int64),
            "position_ids": np.arange(p, dtype=np.int64)[None],
        }
        for i in past:
            feed[i.name] = np.zeros((1, i.shape[1], 0, i.shape[3]), dtype=np.float32)
        tokens = []
        for step in range(args.new):
            result = sess.run(outs, feed)
            token = int(np.argmax(result[0][0]))
            tokens.append(token)
            t = p + step
            feed = {
                "input_ids": np.array([[token]], dtype=np.int64),
                "attention_mask": np.ones((1, t + 1), dtype=np.int64),
                "position_ids": np.array([[t]], dtype=np.int64),
            }
            for i, value in zip(past, result[1:]):
                feed[i.name] = value
        return tokens

    tokens = generate()  # warm-up
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        generate()
        times.append(time.perf_counter() - start)
    print(json.dumps({"median_s": float(np.median(times)), "runs": len(times), "tokens": tokens,
                      "ort_version": ort.__version__}))


if __name__ == "__main__":
    main()
