#!/bin/sh
# Installs the pinned npm packages the grammar tests use, once, into
# $INF_TEST_CACHE/npm-grammar/node_modules:
#   json-schema-test-suite  the official JSON Schema Test Suite (draft 3/4
#                           cases; the only npm package that ships the files)
#   ajv, ajv-draft-04, ajv-formats   the validator for generated documents
# Exits 77 (CTest: skipped) when npm cannot fetch them.
# Usage: scripts/fetch-grammar-npm.sh [CACHE_DIR]
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-${INF_TEST_CACHE:-$here/.cache}}
dir="$cache/npm-grammar"
want="json-schema-test-suite@0.0.10 ajv@8.17.1 ajv-draft-04@1.0.0 ajv-formats@3.0.1"
have() {
  for p in $want; do
    name=${p%@*}; ver=${p##*@}
    f="$dir/node_modules/$name/package.json"
    [ -s "$f" ] || return 1
    grep -q "\"version\": *\"$ver\"" "$f" || return 1
  done
  return 0
}
have && exit 0
mkdir -p "$dir"
[ -s "$dir/package.json" ] || echo '{"name": "inf-grammar-tests", "private": true}' > "$dir/package.json"
if ! (cd "$dir" && npm install --no-audit --no-fund $want >/dev/null 2>&1) || ! have; then
  echo "SKIP: npm could not install $want"
  exit 77
fi
echo "installed $want into $dir"
