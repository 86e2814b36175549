#!/bin/sh
# build-llama-cpp.sh — builds llama.cpp's `llama-server`, `llama-bench`,
# `llama-quantize` and `llama-tokenize` (CPU only) into
# .cache/llama.cpp/build/bin, for the llama_cpp backend's integration test,
# for benchmarks (scripts/bench-vs-llama.sh makes its K-quant GGUF files
# with llama-quantize) and for scripts/gguf-vs-llama-cpp.py (llama-tokenize
# loads a GGUF vocab-only).
#
# llama.cpp's source comes from the npm package node-llama-cpp@3.21.1, which
# ships it as a git bundle (llama/gitRelease.bundle; llama/llama.cpp.info.json
# names the release).  Nothing of llama.cpp is ever committed here: it all
# lives under .cache/ (git-ignored).
#
# Idempotent: each step is skipped when its result is already there, so a
# second run only re-runs the (incremental) cmake build.
#
# Usage: scripts/build-llama-cpp.sh            (from anywhere)
#   JOBS=4 scripts/build-llama-cpp.sh          (parallel build jobs, def. 2)
# Prints the path of llama-server on success.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE="$ROOT/.cache"
PKG=node-llama-cpp
VER=3.21.1
JOBS=${JOBS:-2}
NPMDIR="$CACHE/npm"
SRC="$CACHE/llama.cpp/src"
BUILD="$CACHE/llama.cpp/build"

mkdir -p "$NPMDIR" "$CACHE/llama.cpp"

# 1. The npm tarball (npm pack downloads it without installing anything).
TGZ="$NPMDIR/$PKG-$VER.tgz"
if [ ! -f "$TGZ" ]; then
    (cd "$NPMDIR" && npm pack "$PKG@$VER" >/dev/null)
fi

# 2. The git bundle inside it.
BUNDLE="$NPMDIR/gitRelease.bundle"
if [ ! -f "$BUNDLE" ]; then
    tar xzf "$TGZ" -O package/llama/gitRelease.bundle > "$BUNDLE.tmp"
    mv "$BUNDLE.tmp" "$BUNDLE"
fi

# 3. A checkout of the bundle's HEAD.
if [ ! -f "$SRC/CMakeLists.txt" ]; then
    rm -rf "$SRC"
    git -c advice.detachedHead=false clone --quiet "$BUNDLE" "$SRC"
fi

# 4. Configure once (CPU only, no curl: models are local files), then build
#    the four programs.  GGML_NATIVE=ON tunes for this CPU.
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
        -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DGGML_CUDA=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
        -DBUILD_SHARED_LIBS=OFF >/dev/null
fi
cmake --build "$BUILD" --config Release -j "$JOBS" \
    --target llama-server llama-bench llama-quantize llama-tokenize >/dev/null

test -x "$BUILD/bin/llama-server"
test -x "$BUILD/bin/llama-bench"
test -x "$BUILD/bin/llama-tokenize"
echo "$BUILD/bin/llama-server"
