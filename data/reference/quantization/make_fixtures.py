#!/usr/bin/env python3
"""Write data/reference/quantization/quantize.json: the `gguf` Python package's quantizers
(gguf.quants.quantize, llama.cpp's gguf-py) applied to f32 blocks chosen to reach every branch:
normal values, one-signed blocks, an outlier, all zeros, negative zeros, ties at .5 steps,
tiny (subnormal-scale) values and values near the f16 range.

Chapter 08's tests quantize the same inputs and compare bytes. Run it in the reference venv
(data/reference/smollm2/setup.sh installs gguf and numpy; llama-cpp-python is not needed):

    VPY=$(bash data/reference/smollm2/setup.sh)
    $VPY data/reference/quantization/make_fixtures.py

Floats are written as the hex of their float32 bits, so every input is exact.
"""

from __future__ import annotations

import datetime
import json
import platform
from importlib import metadata
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize

HERE = Path(__file__).resolve().parent
SEED = 20261202
TYPES = [T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.BF16]


def blocks(rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = 32
    cases = {
        "normal": rng.standard_normal((8, n)) * 0.05,
        "positive": np.abs(rng.standard_normal((4, n))) + 0.5,
        "negative": -np.abs(rng.standard_normal((4, n))) - 0.5,
        "outlier": np.concatenate([rng.standard_normal((4, n - 1)) * 0.01, np.full((4, 1), 3.0)], axis=1),
        "zeros": np.zeros((1, n)),
        "negative_zeros": np.full((1, n), -0.0),
        "halves": (np.arange(4 * n).reshape(4, n) % 17 - 8) * 0.5,
        "tiny": rng.standard_normal((2, n)) * 1e-6,
        "large": rng.standard_normal((2, n)) * 3e4,
        "one_value": np.full((1, n), 0.7),
    }
    return {k: v.astype(np.float32) for k, v in cases.items()}


def main() -> None:
    rng = np.random.default_rng(SEED)
    cases = blocks(rng)
    out = {
        "made_by": {
            "script": "data/reference/quantization/make_fixtures.py",
            "versions": {
                "python": platform.python_version(),
                "gguf": metadata.version("gguf"),
                "numpy": metadata.version("numpy"),
            },
            "date": datetime.date.today().isoformat(),
            "seed": SEED,
        },
        "cases": [],
    }
    for name, values in cases.items():
        entry = {"name": name, "values_f32_hex": values.reshape(-1).view(np.uint32).astype(">u4").tobytes().hex(), "quantized": {}}
        for t in TYPES:
            entry["quantized"][t.name] = quantize(values, t).tobytes().hex()
        out["cases"].append(entry)
    path = HERE / "quantize.json"
    path.write_text(json.dumps(out, separators=(",", ":"), ensure_ascii=False) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
