#!/bin/sh
# Load test of `inference serve` on loopback: CLIENTS concurrent streaming
# clients (default 64), each sending REQUESTS completions of MAX_TOKENS
# tokens, against --parallel 8 and then --parallel 1 on the bundled model.
# Reports tokens/s and p50/p99 time to first token for each, and fails when
# any response failed or was truncated, or when --parallel 8 is not faster
# in aggregate than --parallel 1.
#
#   scripts/load-test.sh [INFERENCE_PROGRAM] [MODEL_DIR]
#   env: CLIENTS=64 REQUESTS=1 MAX_TOKENS=32 PARALLEL="8 1" THREADS=(default)
set -eu
cd "$(dirname "$0")/.."
PROG=${1:-build/tools/inference/inference}
MODEL=${2:-models/brown-llama-8m}
export CLIENTS=${CLIENTS:-64} REQUESTS=${REQUESTS:-1} MAX_TOKENS=${MAX_TOKENS:-32}
PARALLEL=${PARALLEL:-"8 1"}
[ -x "$PROG" ] || { echo "load-test: no program at $PROG (build first)" >&2; exit 2; }
command -v node >/dev/null || { echo "load-test: node is required" >&2; exit 2; }

results=""
for p in $PARALLEL; do
  log=$(mktemp /tmp/inf-load-serve.XXXXXX)
  # shellcheck disable=SC2086
  "$PROG" serve -m "$MODEL" --host 127.0.0.1 --port 0 --parallel "$p" \
      --queue "$CLIENTS" ${THREADS:+-t "$THREADS"} >"$log" 2>&1 &
  pid=$!
  port=""
  i=0
  while [ $i -lt 600 ] && [ -z "$port" ]; do
    port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$log")
    kill -0 $pid 2>/dev/null || { cat "$log" >&2; exit 1; }
    [ -n "$port" ] || sleep 0.1
    i=$((i + 1))
  done
  [ -n "$port" ] || { echo "load-test: server did not start" >&2; cat "$log" >&2; kill $pid; exit 1; }
  set +e
  out=$(BASE_URL="http://127.0.0.1:$port" node tests/server/load_client.cjs)
  rc=$?
  set -e
  metrics=$(curl -s "http://127.0.0.1:$port/metrics" | grep -E '^inference_(completion_tokens_total|generations_total|requests_rejected_total) ')
  kill -TERM $pid
  src=0
  wait $pid || src=$?
  if [ $src != 0 ]; then
    echo "load-test: the server exited with status $src:" >&2; tail -n 40 "$log" >&2; rm -f "$log"; exit 1
  fi
  rm -f "$log"
  echo "parallel $p: $out"
  echo "$metrics" | sed 's/^/    /'
  [ $rc = 0 ] || { echo "load-test: failed or truncated responses at --parallel $p" >&2; exit 1; }
  tps=$(echo "$out" | sed 's/.*"tokens_per_second":\([0-9.]*\).*/\1/')
  results="$results $p:$tps"
done

# Aggregate throughput must grow with --parallel (compare first vs last).
first=$(echo $results | awk '{print $1}')
last=$(echo $results | awk '{print $NF}')
if [ "$first" != "$last" ]; then
  echo "$first $last" | awk '{split($1,a,":"); split($2,b,":");
    printf "throughput: --parallel %s %.1f tok/s vs --parallel %s %.1f tok/s (x%.2f)\n",
           a[1], a[2], b[1], b[2], a[2] / b[2];
    exit !(a[2] > b[2])}' || { echo "load-test: --parallel did not raise throughput" >&2; exit 1; }
fi
echo "load-test: ok"
