#!/bin/bash
# bench-vs-llama.sh — `inference bench` side by side with llama.cpp's
# llama-bench on the same model shapes (issue 5's "Must show" table).
#
# For each row (model shape x format) it runs llama-bench on a GGUF file of
# random weights and `inference bench` ALTERNATELY, repetition by
# repetition (ALTERNATE below), so that the load of this shared machine
# falls on both alike.  With SAME_FILE=1
# (issue 20) ours reads the very same GGUF file (formats BF16 F16 Q8_0 Q4_0
# and llama-quantize's mixes Q4_K_M Q6_K ...); without it, `--dummy`
# weights of the same shape and bits per weight (MLX for Q8_0/Q4_0).  Raw JSON goes
# to $OUT (one file per run), and scripts/bench/summarize.py turns it into
# the markdown tables of bench/README.md.
#
# Usage: scripts/bench-vs-llama.sh [PHASE...]
#   phases: membw main exact threads1 depth poll0 batch mlx depthbefore
#   (default: membw main threads1 depth batch, in order)
# Environment:
#   REPS=5 THREADS=2        repetitions and threads of the main table
#   ALTERNATE=1             main, threads1, depth and mlx run each program -r 1,
#                           REPS times in turn (llama ours ours llama ...:
#                           a drifting load falls on both alike), joined by
#                           scripts/bench/merge_reps.py (the single runs in
#                           $OUT/reps); 0: each program's -r REPS at once
#   DEPTH_REPS=3            repetitions of the context-depth phase
#   ROWS="qwen3-0.6b:BF16 ..." which rows of the main table (see ROWS below)
#   OUT=bench/results       where the JSON goes
#   INFERENCE=build-perf/tools/inference/inference
#   LLAMA_BENCH=.cache/llama.cpp/build/bin/llama-bench
#   NICE=0                  niceness of the measured programs (e.g. -10 as
#                           root: both programs alike, less disturbed by
#                           the compiles of a shared machine)
#   SAME_FILE=0             1: ours runs on llama-bench's GGUF file
#   PRECISION=              ours: --precision exact|fast (empty: the
#                           bench command's default, fast)
#   OURS_PREFIX_CACHE=0     1: ours keeps its prefix cache on.  Off by
#                           default since session 17: the prompts are
#                           random ids, so it never hits, and with it on
#                           every repetition's blocks stay cached and the
#                           next one writes fresh, never-touched pages of
#                           the KV pool (first-touch page faults: ~5% of a
#                           512-token prefill's samples on the Zen 5 VM),
#                           where llama-bench clears and reuses its cache
#   LLAMA_QUANTIZE=.cache/llama.cpp/build/bin/llama-quantize  (K-quant
#                           mixes, made from the row's BF16 file)
#   LLAMA_PREFIX=           a wrapper for llama-bench, e.g. build-perf/noamx
#                           (scripts/bench/noamx.c: no AMX, whose matmul
#                           crashes llama.cpp on the project's Xeon VM)
#   LLAMA_EXTRA=            more llama-bench arguments, e.g. "--poll 0"
#                           (with OMP_WAIT_POLICY=passive: on an
#                           oversubscribed machine its spinning threads
#                           otherwise lose 3-10x)
# Prerequisites (each one is made when missing, llama-bench only when no
# build of it is already running):
#   Release build:  cmake -S . -B build-perf -DCMAKE_BUILD_TYPE=Release &&
#                   cmake --build build-perf --target inference_cli -j2
#   llama-bench, llama-quantize:  scripts/build-llama-cpp.sh
#   GGUF files:     scripts/bench/make_gguf.py (into .cache/bench-gguf)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
REPS=${REPS:-5}
THREADS=${THREADS:-2}
DEPTH_REPS=${DEPTH_REPS:-3}   # each repetition prefills the 2000-token context
ALTERNATE=${ALTERNATE:-1}
OUT=${OUT:-bench/results}
INFERENCE=${INFERENCE:-build-perf/tools/inference/inference}
LLAMA_BENCH=${LLAMA_BENCH:-.cache/llama.cpp/build/bin/llama-bench}
GGUF_DIR=${GGUF_DIR:-.cache/bench-gguf}
NICE=${NICE:-0}
SAME_FILE=${SAME_FILE:-0}
PRECISION=${PRECISION:-}
OURS_PREFIX_CACHE=${OURS_PREFIX_CACHE:-0}
LLAMA_QUANTIZE=${LLAMA_QUANTIZE:-.cache/llama.cpp/build/bin/llama-quantize}
LLAMA_PREFIX=${LLAMA_PREFIX:-}
LLAMA_EXTRA=${LLAMA_EXTRA:-}
PY=${PY:-/usr/bin/python3}
# shape:GGUF type.  Our counterpart of each type: BF16/F16 the same dtype,
# Q8_0 MLX 8-bit group 64 (8.5 bits/weight), Q4_0 MLX 4-bit group 64 (4.5).
ROWS=${ROWS:-"qwen3-0.6b:BF16 qwen3-0.6b:F16 qwen3-0.6b:Q8_0 qwen3-0.6b:Q4_0 \
llama-3.2-1b:BF16 llama-3.2-1b:Q8_0 llama-3.2-1b:Q4_0"}
ONE_SHAPE=${ONE_SHAPE:-qwen3-0.6b:Q4_0}   # for the depth/poll0/batch/mlx phases
MLX_THREADS=${MLX_THREADS:-"2 1"}          # mlx phase
DEPTH_THREADS=${DEPTH_THREADS:-"2 1"}      # depthbefore phase
INFERENCE_BEFORE=${INFERENCE_BEFORE:-}     # depthbefore phase: the other build
THREADS1_ROWS=${THREADS1_ROWS:-"qwen3-0.6b:Q4_0 qwen3-0.6b:BF16"}  # 1-thread phase

mkdir -p "$OUT" "$GGUF_DIR"
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
run() { nice -n "$NICE" "$@"; }

ours_flags() { # shape, GGUF type -> inference bench model flags
    local shape=$1; shift
    if [ "$SAME_FILE" = 1 ]; then
        echo "-m $(gguf_of "$shape" "$1")${PRECISION:+ --precision $PRECISION}"
        return
    fi
    printf '%s' "-m bench/configs/$shape${PRECISION:+ --precision $PRECISION} "
    case "$1" in
        BF16) echo "--dummy --dummy-dtype bf16" ;;
        F16)  echo "--dummy --dummy-dtype f16" ;;
        Q8_0) echo "--dummy --dummy-dtype bf16 --dummy-bits 8 --dummy-group 64" ;;
        Q4_0) echo "--dummy --dummy-dtype bf16 --dummy-bits 4 --dummy-group 64" ;;
        *) echo "unknown type $1" >&2; exit 2 ;;
    esac
}

gguf_of() { # shape type -> path, written when missing
    local f="$GGUF_DIR/$1-$2.gguf"
    if [ ! -f "$f" ]; then
        case "$2" in
        BF16|F16|F32|Q4_0|Q8_0)
            log "writing $f"
            nice "$PY" scripts/bench/make_gguf.py "bench/configs/$1" "$f.tmp" --type "$2" >&2 ;;
        *)  # K-quant mixes etc.: llama-quantize from the BF16 file
            local src; src=$(gguf_of "$1" BF16)
            log "llama-quantize $src -> $f"
            nice "$LLAMA_QUANTIZE" "$src" "$f.tmp" "$2" >&2 ;;
        esac
        mv "$f.tmp" "$f"
    fi
    echo "$f"
}

prereqs() {
    if [ ! -x "$INFERENCE" ]; then
        cmake -S . -B build-perf -DCMAKE_BUILD_TYPE=Release \
            -DCMAKE_C_FLAGS=-Wno-maybe-uninitialized >/dev/null
        cmake --build build-perf --target inference_cli -j2 >/dev/null
    fi
}
need_llama_bench() { # built on demand, unless a build is already under way
    [ -x "$LLAMA_BENCH" ] && return 0
    if pgrep -f build-llama-cpp.sh >/dev/null; then
        log "llama-bench is being built by scripts/build-llama-cpp.sh; try again later"
        exit 1
    fi
    scripts/build-llama-cpp.sh >/dev/null
}

# llama NAME SHAPE TYPE ARGS... / ours NAME SHAPE TYPE ARGS...: one run each,
# JSON into $OUT/NAME-{llama,ours}.json.
llama() {
    local name=$1 shape=$2 type=$3; shift 3
    need_llama_bench
    local g; g=$(gguf_of "$shape" "$type")
    log "llama-bench $name: $*"
    # shellcheck disable=SC2086
    run $LLAMA_PREFIX "$LLAMA_BENCH" -m "$g" -o json "$@" $LLAMA_EXTRA > "$OUT/$name-llama.json" \
        2> "$OUT/.$name-llama.err" \
        || { log "llama-bench failed:"; tail -5 "$OUT/.$name-llama.err" >&2; return 1; }
    rm -f "$OUT/.$name-llama.err"
}
ours() {
    local name=$1 shape=$2 type=$3; shift 3
    log "inference bench $name: $*"
    local pc=--no-prefix-cache
    [ "$OURS_PREFIX_CACHE" = 1 ] && pc=
    # shellcheck disable=SC2046,SC2086
    run "$INFERENCE" bench $(ours_flags "$shape" "$type") $pc --json "$@" \
        > "$OUT/$name-ours.json"
}

# side_by_side NAME SHAPE TYPE REPS "LLAMA ARGS" "OURS ARGS": the row's two
# programs, REPS repetitions each, into NAME-{llama,ours}.json.  Session
# 20's table ran each program's five repetitions in one go and the ratios
# moved 20-40% between runs on the busy VM; taking turns per repetition
# (ABBA order) puts the same minutes under both.
side_by_side() {
    local name=$1 shape=$2 type=$3 reps=$4 la=$5 oa=$6 i
    if [ "$ALTERNATE" != 1 ]; then
        # shellcheck disable=SC2086
        llama "$name" "$shape" "$type" $la -r "$reps"
        # shellcheck disable=SC2086
        ours "$name" "$shape" "$type" $oa -r "$reps"
        return
    fi
    for i in $(seq "$reps"); do
        if [ $((i % 2)) = 1 ]; then
            # shellcheck disable=SC2086
            llama "$name.rep$i" "$shape" "$type" $la -r 1
            # shellcheck disable=SC2086
            ours "$name.rep$i" "$shape" "$type" $oa -r 1
        else
            # shellcheck disable=SC2086
            ours "$name.rep$i" "$shape" "$type" $oa -r 1
            # shellcheck disable=SC2086
            llama "$name.rep$i" "$shape" "$type" $la -r 1
        fi
    done
    "$PY" scripts/bench/merge_reps.py "$OUT" "$name" "$reps"
}

membw_build() {
    mkdir -p build-perf/membw
    cc -O3 -march=native -pthread scripts/bench/membw.c -o build-perf/membw/membw
}

phase_membw() {
    membw_build
    for t in 1 2; do
        log "membw $t thread(s)"
        run build-perf/membw/membw "$t" 10 1024 > "$OUT/membw-t$t.json"
    done
}

phase_main() {
    # the bandwidth again between each row's two runs (NAME-membw.json):
    # the once-per-run figure of phase membw read 37.7 to 71.3 GB/s on the
    # same machine within an hour (sessions 16-17), so a row's decode is
    # also put against the bandwidth of its own minute
    [ -x build-perf/membw/membw ] || membw_build
    for row in $ROWS; do
        local shape=${row%%:*} type=${row##*:} name="main-${row/:/-}"
        log "membw $THREADS thread(s), row $row"
        run build-perf/membw/membw "$THREADS" 10 1024 > "$OUT/$name-membw.json"
        side_by_side "$name" "$shape" "$type" "$REPS" "-p 512 -n 128 -t $THREADS" \
            "-p 512 -n 128 -t $THREADS"
    done
}

phase_exact() { # ours with --precision exact on every row (the fast one is main)
    for row in $ROWS; do
        local shape=${row%%:*} type=${row##*:}
        PRECISION=exact ours "exact-${row/:/-}" "$shape" "$type" -p 512 -n 128 \
            -r "$REPS" -t "$THREADS"
    done
}

phase_threads1() {
    for row in $THREADS1_ROWS; do
        local shape=${row%%:*} type=${row##*:}
        side_by_side "t1-$shape-$type" "$shape" "$type" "$REPS" "-p 512 -n 128 -t 1" \
            "-p 512 -n 128 -t 1"
    done
}

phase_depth() { # decode speed after a context of 100 vs 2000 tokens
    local shape=${ONE_SHAPE%%:*} type=${ONE_SHAPE##*:}
    for d in 100 2000; do
        side_by_side "depth$d-$shape-$type" "$shape" "$type" "$DEPTH_REPS" \
            "-p 0 -n 128 -d $d -t $THREADS" "-p 16 -n 128 -d $d -t $THREADS --ctx 4096"
    done
}

phase_mlx() { # issue 20: MLX 4/8-bit safetensors vs the GGUF file of equal bits (ours both)
    # In turn, repetition by repetition, as side_by_side does (ALTERNATE):
    # session 23's MLX8 row, each model's five repetitions in one go, read
    # 0.77x where three alternated rounds read 0.99-1.02x.
    local shape=${ONE_SHAPE%%:*} t type i m g
    for t in $MLX_THREADS; do
        for type in Q8_0 Q4_0; do
            m="mlx-t$t-$shape-$type" g="gguf-t$t-$shape-$type"
            if [ "$ALTERNATE" != 1 ]; then
                SAME_FILE=0 ours "$m" "$shape" "$type" -p 512 -n 128 -r "$REPS" -t "$t"
                SAME_FILE=1 ours "$g" "$shape" "$type" -p 512 -n 128 -r "$REPS" -t "$t"
                continue
            fi
            for i in $(seq "$REPS"); do
                if [ $((i % 2)) = 1 ]; then
                    SAME_FILE=0 ours "$m.rep$i" "$shape" "$type" -p 512 -n 128 -r 1 -t "$t"
                    SAME_FILE=1 ours "$g.rep$i" "$shape" "$type" -p 512 -n 128 -r 1 -t "$t"
                else
                    SAME_FILE=1 ours "$g.rep$i" "$shape" "$type" -p 512 -n 128 -r 1 -t "$t"
                    SAME_FILE=0 ours "$m.rep$i" "$shape" "$type" -p 512 -n 128 -r 1 -t "$t"
                fi
            done
            "$PY" scripts/bench/merge_reps.py "$OUT" "$m" "$REPS" ours
            "$PY" scripts/bench/merge_reps.py "$OUT" "$g" "$REPS" ours
        done
    done
}

phase_depthbefore() { # the depth phase's decode with another build of ours
    # (INFERENCE_BEFORE, e.g. the commit before the f16 KV cache), alternated
    # with this one: the before/after of the context-2,000 row
    local shape=${ONE_SHAPE%%:*} type=${ONE_SHAPE##*:}
    for t in $DEPTH_THREADS; do
        for i in $(seq "$DEPTH_REPS"); do
            INFERENCE=$INFERENCE_BEFORE ours "before-d2000-t$t-$i-$shape-$type" "$shape" "$type" \
                -p 16 -n 128 -d 2000 -r 1 -t "$t" --ctx 4096
            ours "after-d2000-t$t-$i-$shape-$type" "$shape" "$type" \
                -p 16 -n 128 -d 2000 -r 1 -t "$t" --ctx 4096
        done
    done
}

phase_poll0() { # llama.cpp's decode without busy-waiting threads
    local shape=${ONE_SHAPE%%:*} type=${ONE_SHAPE##*:}
    llama "poll0-$shape-$type" "$shape" "$type" -p 0 -n 128 -r "$DEPTH_REPS" -t "$THREADS" --poll 0
    ours "poll0-$shape-$type" "$shape" "$type" -p 16 -n 128 -r "$DEPTH_REPS" -t "$THREADS"
}

phase_batch() { # aggregate throughput of B concurrent streams (ours only)
    local shape=${ONE_SHAPE%%:*} type=${ONE_SHAPE##*:}
    for b in 1 4 16; do
        ours "batch$b-$shape-$type" "$shape" "$type" -p 64 -n 32 -r 3 -t "$THREADS" \
            --batch "$b" --ctx 4096
    done
}

# What ran the numbers: the sessions' machines changed kind (Zen 5 with
# AVX-512, then Zen 3 without), and llama-bench records only "AMD EPYC"
# (its JSON has llama.cpp's commit, build_commit).
machine() {
    {
        grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: */cpu: /'
        printf 'family %s, model %s, %s logical cpus\n' \
            "$(grep -m1 '^cpu family' /proc/cpuinfo | sed 's/^[^:]*: *//')" \
            "$(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | sed 's/^[^:]*: *//')" "$(nproc)"
        printf 'flags: %s\n' "$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
            grep -E '^(avx2|fma|f16c|avx512f|avx512_vnni|avx512_bf16|avx_vnni|amx_bf16|amx_int8)$' | tr '\n' ' ')"
        printf 'libinference: %s\n' "$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo ' (modified)')"
    } > "$OUT/machine.txt"
}

prereqs
machine
PHASES=${*:-membw main threads1 depth batch}
for p in $PHASES; do
    log "phase $p"
    "phase_$p"
done
"$PY" scripts/bench/summarize.py "$OUT" > "$OUT/summary.md"
log "summary: $OUT/summary.md"
