#!/bin/sh
# Runs libinference's test suite: installs packages (idempotent), builds,
# runs CTest, then the same tests under AddressSanitizer + UBSan, then each
# libFuzzer target briefly.  Tests labelled "slow" are left to
# scripts/test-slow.sh.
#   INF_TEST_SANITIZE=0   skip the sanitizer pass
#   INF_TEST_FUZZ_SECONDS=N  seconds per fuzz target (default 5; 0 skips)
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)

./scripts/setup.sh

echo "== build (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"
# Each ctest pass is logged so the script can end with one summary line;
# its exit status still decides (sh has no pipefail, hence no pipe).
LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT
run_ctest() { # LOGNAME ctest-args...
  log="$LOGS/$1.log"; shift
  rc=0
  ctest "$@" >"$log" 2>&1 || rc=$?
  cat "$log"
  [ "$rc" = 0 ] || exit "$rc"
}
echo "== tests"
run_ctest normal --test-dir build --output-on-failure -LE slow -j"$JOBS"

if [ "${INF_TEST_SANITIZE:-1}" != 0 ]; then
  echo "== build (address + undefined sanitizers)"
  # CUDA stays out of this build: no device in CI, and nvcc time is better
  # spent elsewhere.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DINF_SANITIZE=ON \
        -DINF_CUDA=OFF -DCMAKE_C_FLAGS="-O1" >/dev/null
  cmake --build build-asan -j"$JOBS"
  # The library's own C tests run under the sanitizers; the end-to-end
  # program tests (cli_*, the server's curl/npm/browser drives) and the
  # differential scripts ran above against the same code and would only
  # repeat those paths at sanitizer speed.
  echo "== tests under sanitizers"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_ctest sanitize --test-dir build-asan --output-on-failure -LE "slow|nosanitize" \
      -E "^(cli_|server_(curl|openai_npm|web_chromium)$|tok_diff_sample$|tmpl_diff_jinja2$|tmpl_engine_cases_jinja2$)" \
      -j"$JOBS"
fi

FUZZ_S=${INF_TEST_FUZZ_SECONDS:-5}
if [ "$FUZZ_S" != 0 ] && [ -x scripts/run-fuzzers.sh ]; then
  echo "== fuzzers (${FUZZ_S}s each)"
  ./scripts/run-fuzzers.sh "$FUZZ_S"
fi
# "N tests failed out of M" from each pass -> one closing line.
awk '/tests failed out of/ { f += $(NF-4); t += $NF }
     /\*\*\*Skipped/ { sk++ }
     END { printf "scripts/test.sh: %d passed, %d failed, %d skipped\n", t - f - sk, f, sk }' "$LOGS"/*.log
