#!/usr/bin/env python3
"""llama.cpp's CPU speed on SmolLM2-135M-Instruct (Q4_1 GGUF), through llama-cpp-python.

The yardstick for chapter 07/08's own decode speed. Run in the reference venv (setup.sh):

    VPY=$(bash data/reference/smollm2/setup.sh)
    $VPY data/reference/smollm2/llamacpp_speed.py --threads 2 [--prompt-tokens 128] [--new-tokens 64]

Prefill: one eval of N prompt tokens (a fixed, deterministic token sequence cut from
data/corpora/english.txt, repeated if needed), from an empty cache; median of 3 runs.
Decode: after that prefill, M greedy steps, each one eval of a single token; tokens/s over the
M steps, median of 3 runs. Peak RSS: resource.getrusage(RUSAGE_SELF).ru_maxrss (KiB on Linux)
at the end. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_path() -> Path:
    cache = os.environ.get("WORKBENCH_CACHE") or os.path.join(Path.home(), ".cache", "llm-workbench")
    return Path(cache) / "models" / MODEL_FILE


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description="llama.cpp prefill/decode tokens/s for SmolLM2-135M Q4_1")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--model", type=Path, default=default_model_path())
    args = ap.parse_args()

    import llama_cpp
    from llama_cpp import Llama

    n_ctx = max(512, args.prompt_tokens + args.new_tokens + 8)
    t0 = time.perf_counter()
    llm = Llama(
        str(args.model),
        n_ctx=n_ctx,
        n_batch=max(512, args.prompt_tokens),
        n_ubatch=max(512, args.prompt_tokens),
        n_threads=args.threads,
        n_threads_batch=args.threads,
        logits_all=False,
        seed=0,
        verbose=False,
    )
    load_s = time.perf_counter() - t0

    text = (REPO / "data" / "corpora" / "english.txt").read_text(encoding="utf-8")
    ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    while len(ids) < args.prompt_tokens:
        ids = ids + ids
    prompt = ids[: args.prompt_tokens]

    def last_logits() -> np.ndarray:
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))

    # warm-up (page in the weights, build the graphs)
    llm.reset()
    llm.eval(prompt[:16])
    llm.eval([prompt[16]])

    prefill, decode = [], []
    for _ in range(args.runs):
        llm.reset()
        t = time.perf_counter()
        llm.eval(prompt)
        prefill.append(len(prompt) / (time.perf_counter() - t))
        tok = int(np.argmax(last_logits()))
        t = time.perf_counter()
        for _ in range(args.new_tokens):
            llm.eval([tok])
            tok = int(np.argmax(last_logits()))
        decode.append(args.new_tokens / (time.perf_counter() - t))

    out = {
        "engine": "llama.cpp via llama-cpp-python",
        "model": MODEL_FILE,
        "prompt_tokens": len(prompt),
        "new_tokens": args.new_tokens,
        "threads": args.threads,
        "runs": args.runs,
        "prefill_tokens_per_s": round(statistics.median(prefill), 1),
        "decode_tokens_per_s": round(statistics.median(decode), 1),
        "prefill_runs": [round(x, 1) for x in prefill],
        "decode_runs": [round(x, 1) for x in decode],
        "load_s": round(load_s, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cpu": cpu_name(),
        "n_cpus": os.cpu_count(),
        "versions": {
            "python": platform.python_version(),
            "llama_cpp_python": metadata.version("llama_cpp_python"),
            "numpy": metadata.version("numpy"),
            "llama_cpp_system_info": llama_cpp.llama_print_system_info().decode().strip(),
        },
    }
    print(json.dumps(out, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
