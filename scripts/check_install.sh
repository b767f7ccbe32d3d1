#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds two consumers against
# it: one through find_package(fastweights), one through pkg-config.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install build --prefix "$tmp/prefix" > /dev/null
mkdir -p "$tmp/app"
cp tests/c/consumer.c "$tmp/app/"
cat > "$tmp/app/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(fastweights 1.0 REQUIRED)
add_executable(consumer consumer.c)
target_link_libraries(consumer PRIVATE fastweights::fastweights m)
CM
cmake -S "$tmp/app" -B "$tmp/app/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" > /dev/null
cmake --build "$tmp/app/build" > /dev/null
libdir=$(dirname "$(find "$tmp/prefix" -name 'libfastweights.so.1' | head -1)")
LD_LIBRARY_PATH="$libdir" "$tmp/app/build/consumer"
PKG_CONFIG_PATH="$libdir/pkgconfig" cc -std=c11 "$tmp/app/consumer.c" -o "$tmp/pc_consumer" \
  $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs fastweights) -lm
LD_LIBRARY_PATH="$libdir" "$tmp/pc_consumer"
echo "install ok: find_package and pkg-config consumers built and ran"
