#!/bin/sh
# install_test.sh BUILD_DIR SOURCE_DIR CC CMAKE
# Installs BUILD_DIR into a temporary prefix the way a user would
# (cmake --install BUILD_DIR --prefix DIR), then builds README.md's "Using
# the library" example, exactly as written there, against that prefix:
#   1. cc example.c $(pkg-config --cflags --libs libinference)
#      with PKG_CONFIG_PATH pointing into the prefix;
#   2. a small CMake project: find_package(libinference) with
#      CMAKE_PREFIX_PATH=DIR, one program on libinference::inference and
#      one on libinference::inference_static.
# Each program runs on models/brown-llama-8m and must print text and exit 0.
set -eu
build=$1 src=$2 cc=$3 cmake=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "install_test: $*" >&2; exit 1; }
real() { (cd "$1" && pwd -P); }

echo "== cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; fail "cmake --install failed"; }
for h in inference.h inference_backend.h; do
  [ -n "$(find "$prefix" -name "$h")" ] || fail "$h was not installed"
done
pc=$(find "$prefix" -name libinference.pc)
[ -n "$pc" ] || fail "libinference.pc was not installed"
cfg=$(find "$prefix" -name libinference-config.cmake)
[ -n "$cfg" ] || fail "libinference-config.cmake was not installed"

# The example, verbatim from the README.
awk '/^## Using the library/ { u = 1 }
     u && /^```c$/ { c = 1; next }
     c && /^```$/ { exit }
     c { print }' "$src/README.md" >"$tmp/example.c"
grep -q 'int main' "$tmp/example.c" || fail "no example program in README.md's \"Using the library\""

# Runs a program from the source root (the example names
# models/brown-llama-8m); it must exit 0 and print generated text.
run() { # NAME PROGRAM [env...]
  name=$1; prog=$2; shift 2
  rc=0
  (cd "$src" && env "$@" "$prog" >"$tmp/$name.out" 2>"$tmp/$name.err") || rc=$?
  if [ "$rc" != 0 ]; then
    cat "$tmp/$name.err" >&2
    fail "$name: exit status $rc"
  fi
  [ "$(wc -c <"$tmp/$name.out")" -gt 10 ] || fail "$name: printed no generated text"
  echo "$name: $(head -c 80 "$tmp/$name.out" | tr '\n' ' ')"
}

echo "== pkg-config"
export PKG_CONFIG_PATH="$(dirname "$pc")"
flags=$(pkg-config --cflags --libs libinference) || fail "pkg-config --cflags --libs libinference failed"
echo "pkg-config --cflags --libs libinference: $flags"
for v in includedir libdir; do
  d=$(pkg-config --variable=$v libinference)
  [ -d "$d" ] && case "$(real "$d")/" in "$(real "$prefix")"/*) ;; *) false ;; esac ||
    fail "pkg-config's $v ($d) is not inside the prefix $prefix"
done
libdir=$(pkg-config --variable=libdir libinference)
# shellcheck disable=SC2086  # the flags are words
"$cc" -o "$tmp/example_pkgconfig" "$tmp/example.c" $flags ||
  fail "the README example does not build with pkg-config"
run example_pkgconfig "$tmp/example_pkgconfig" LD_LIBRARY_PATH="$libdir"
unset PKG_CONFIG_PATH

echo "== find_package(libinference)"
mkdir "$tmp/proj"
cp "$tmp/example.c" "$tmp/proj/example.c"
cat >"$tmp/proj/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.20)
project(consumer C)
find_package(libinference REQUIRED)
add_executable(example_shared example.c)
target_link_libraries(example_shared PRIVATE libinference::inference)
add_executable(example_static example.c)
target_link_libraries(example_static PRIVATE libinference::inference_static)
CMAKE
"$cmake" -S "$tmp/proj" -B "$tmp/proj/b" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$tmp/proj.log" 2>&1 ||
  { cat "$tmp/proj.log"; fail "find_package(libinference) failed"; }
dir=$(sed -n 's/^libinference_DIR:[A-Z]*=//p' "$tmp/proj/b/CMakeCache.txt")
case "$(real "$dir")/" in "$(real "$prefix")"/*) ;; *)
  fail "find_package found libinference in $dir, not in the prefix" ;;
esac
"$cmake" --build "$tmp/proj/b" >"$tmp/proj-build.log" 2>&1 ||
  { cat "$tmp/proj-build.log"; fail "the README example does not build with find_package"; }
# The shared one must load the installed library (CMake's build-tree rpath).
ldd "$tmp/proj/b/example_shared" | grep -Eq "libinference.* => ($prefix|$(real "$prefix"))/" ||
  { ldd "$tmp/proj/b/example_shared" >&2; fail "example_shared does not use the installed libinference.so"; }
run example_cmake_shared "$tmp/proj/b/example_shared"
run example_cmake_static "$tmp/proj/b/example_static"
echo "install_test: ok"
