#!/usr/bin/env bash
# Reference environment for the SmolLM2 fixtures in this folder (data/reference/smollm2/).
# Not needed to build or test the workbench: only to regenerate the fixtures
# (make_fixtures.py) or to measure llama.cpp's speed (llamacpp_speed.py).
#
# Creates a Python venv at ${WORKBENCH_CACHE:-$HOME/.cache/llm-workbench}/reference-venv
# (once; idempotent) with pinned gguf, numpy, jinja2 and llama-cpp-python. llama-cpp-python
# builds llama.cpp from source (several minutes on 2 cores). The build is not "native":
# -march=native died with SIGILL on this kind of VM, so the SIMD flags are spelled out, and
# only those the CPU reports in /proc/cpuinfo are switched on.
#
# Usage: bash data/reference/smollm2/setup.sh        (prints the venv's python at the end)
set -euo pipefail

CACHE="${WORKBENCH_CACHE:-$HOME/.cache/llm-workbench}"
VENV="$CACHE/reference-venv"
PY="${PYTHON:-python3}"

NUMPY_VERSION=2.4.6
GGUF_VERSION=0.19.0
JINJA2_VERSION=3.1.6
LLAMA_CPP_PYTHON_VERSION=0.3.36

mkdir -p "$CACHE"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"

# installed version of a package, or nothing (no pipe into grep -q: with pipefail, pip's SIGPIPE
# would count as a failure)
have() {
    local shown
    shown="$("$VPY" -m pip show "$1" 2>/dev/null || true)"
    [[ $'\n'"$shown"$'\n' == *$'\n'"Version: $2"$'\n'* ]]
}

if ! have numpy "$NUMPY_VERSION" || ! have gguf "$GGUF_VERSION" || ! have jinja2 "$JINJA2_VERSION"; then
    "$VPY" -m pip install --quiet "numpy==$NUMPY_VERSION" "gguf==$GGUF_VERSION" "jinja2==$JINJA2_VERSION" >&2
fi

if ! have llama_cpp_python "$LLAMA_CPP_PYTHON_VERSION"; then
    flags="-DGGML_NATIVE=OFF"
    cpu=" $(grep -m1 '^flags' /proc/cpuinfo || true) "
    for f in avx avx2 fma f16c; do
        F="${f^^}"
        if [[ "$cpu" == *" $f "* ]]; then
            flags="$flags -DGGML_$F=ON"
        else
            flags="$flags -DGGML_$F=OFF"
        fi
    done
    echo "building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION with CMAKE_ARGS=$flags" >&2
    CMAKE_ARGS="$flags" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
        nice -n 10 "$VPY" -m pip install --no-cache-dir --no-binary llama-cpp-python \
        "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" "numpy==$NUMPY_VERSION" "jinja2==$JINJA2_VERSION" >&2
fi

"$VPY" -m pip freeze | grep -i -E '^(numpy|gguf|jinja2|llama.cpp.python|llama_cpp_python)==' >&2 || true
echo "$VPY"
