#!/bin/sh
# Differential test of libinference's tokenizer against Hugging Face
# tokenizers 0.23.2 (npm), for qwen3 gemma3 llama3 llama2.
#
#   scripts/tokenizer-diff/run.sh [CASES_PER_TOKENIZER (1000)] [SEED (1)] [TOK_DIFF]
#
# TOK_DIFF: the checker built from tests/tokenizer/tok_diff.c (default
# build-tok/tests/tokenizer/tok_diff).  Needs node; installs the npm
# package here on first use and fetches the tokenizers into the cache.
# Exits 1 when any case disagrees (the first ones are printed).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
n=${1:-1000}
seed=${2:-1}
bin=${3:-$root/build-tok/tests/tokenizer/tok_diff}
cache=${INF_TEST_CACHE:-$root/.cache}
[ -d "$here/node_modules/tokenizers" ] || (cd "$here" && npm install --no-audit --no-fund --silent)
"$root/scripts/fetch-tokenizers.sh" "$cache" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for name in ${TOKENIZERS:-qwen3 gemma3 llama3 llama2}; do
  node "$here/gen.js" "$cache/tokenizers/$name" "$n" "$seed" > "$tmp/$name.jsonl"
  "$bin" "$cache/tokenizers/$name" "$tmp/$name.jsonl" 5 || status=1
done
exit $status
