#!/bin/sh
# Builds every libFuzzer target (fuzz/*/CMakeLists.txt, clang, -DINF_FUZZ=ON)
# and runs each for a while, starting from its seed corpus when it has one
# (fuzz/<area>/corpus/<target>/, copied so the tree stays clean).
#
#   scripts/run-fuzzers.sh [SECONDS_PER_TARGET (default 5)] [BUILD_DIR]
#
# Exits non-zero when a target crashes; crash inputs are kept in
# BUILD_DIR/fuzz-artifacts/.
set -eu
secs=${1:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$root/build-fuzz}
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DINF_FUZZ=ON -DINF_TESTS=OFF -DINF_CUDA=OFF >/dev/null
cmake --build "$build" --target fuzzers -j2
mkdir -p "$build/fuzz-artifacts"
status=0
for bin in "$build"/fuzz-bin/*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  work=$(mktemp -d)
  for seeds in "$root"/fuzz/*/corpus/"$name"; do
    [ -d "$seeds" ] && cp -R "$seeds"/. "$work"/
  done
  echo "== $name: ${secs}s"
  if ! "$bin" -max_total_time="$secs" -print_final_stats=1 \
      -artifact_prefix="$build/fuzz-artifacts/$name-" "$work" 2>"$work.log"; then
    tail -n 40 "$work.log"
    echo "!! $name failed (artifacts in $build/fuzz-artifacts/)"
    status=1
  else
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)|cov:" "$work.log" | tail -n 3
  fi
  rm -rf "$work" "$work.log"
done
exit $status
