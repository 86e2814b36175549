#!/bin/sh
# Load test of `inference serve` on loopback: CLIENTS concurrent streaming
# clients (default 64), each sending REQUESTS completions of MAX_TOKENS
# tokens, against --parallel 8 and --parallel 1 on the bundled model,
# alternating for ROUNDS rounds (the machine may be shared: alternating and
# taking the median keeps a burst of someone else's work from deciding the
# comparison).  Reports tokens/s and p50/p99 time to first token per run,
# and fails when any response failed or was truncated, when a server did
# not exit cleanly, or when the median aggregate throughput of the first
# --parallel setting is not above the last's.
#
#   scripts/load-test.sh [INFERENCE_PROGRAM] [MODEL_DIR]
#   env: CLIENTS=64 REQUESTS=1 MAX_TOKENS=32 PARALLEL="8 1" ROUNDS=3
#        THREADS=(backend default)
set -eu
cd "$(dirname "$0")/.."
PROG=${1:-build/tools/inference/inference}
MODEL=${2:-models/brown-llama-8m}
export CLIENTS=${CLIENTS:-64} REQUESTS=${REQUESTS:-1} MAX_TOKENS=${MAX_TOKENS:-32}
PARALLEL=${PARALLEL:-"8 1"}
ROUNDS=${ROUNDS:-3}
[ -x "$PROG" ] || { echo "load-test: no program at $PROG (build first)" >&2; exit 2; }
command -v node >/dev/null || { echo "load-test: node is required" >&2; exit 2; }
tps_file=$(mktemp /tmp/inf-load-tps.XXXXXX)
trap 'rm -f "$tps_file"' EXIT

run_one() { # run_one PARALLEL -> appends "P TPS" to $tps_file
  p=$1
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
  metrics=$(curl -s "http://127.0.0.1:$port/metrics" |
            grep -E '^inference_(completion_tokens_total|generations_total|requests_rejected_total) ' | tr '\n' ' ')
  kill -TERM $pid
  src=0
  wait $pid || src=$?
  if [ $src != 0 ]; then
    echo "load-test: the server exited with status $src:" >&2; tail -n 40 "$log" >&2; rm -f "$log"; exit 1
  fi
  rm -f "$log"
  echo "parallel $p: $out"
  echo "    server: $metrics"
  [ $rc = 0 ] || { echo "load-test: failed or truncated responses at --parallel $p" >&2; exit 1; }
  echo "$p $(echo "$out" | sed 's/.*"tokens_per_second":\([0-9.]*\).*/\1/')" >>"$tps_file"
}

r=1
while [ $r -le "$ROUNDS" ]; do
  for p in $PARALLEL; do run_one "$p"; done
  r=$((r + 1))
done

median() { # median of the tokens/s of parallel $1
  awk -v p="$1" '$1 == p {print $2}' "$tps_file" | sort -g |
    awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
first=$(echo $PARALLEL | awk '{print $1}')
last=$(echo $PARALLEL | awk '{print $NF}')
for p in $PARALLEL; do echo "median over $ROUNDS rounds: --parallel $p $(median "$p") tok/s"; done
if [ "$first" != "$last" ]; then
  a=$(median "$first")
  b=$(median "$last")
  awk -v a="$a" -v b="$b" -v pa="$first" -v pb="$last" 'BEGIN {
    printf "throughput: --parallel %s %.1f tok/s vs --parallel %s %.1f tok/s (x%.2f)\n", pa, a, pb, b, a / b;
    exit !(a > b) }' || { echo "load-test: --parallel $first did not raise throughput over --parallel $last" >&2; exit 1; }
fi
echo "load-test: ok"
