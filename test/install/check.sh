#!/bin/sh
# Installs the build tree into a scratch prefix, then builds the README's
# example as a user would: with pkg-config, and with CMake's find_package.
# Usage: check.sh BUILD_DIR
set -eu
build=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp"/prefix/lib*/ | head -n 1)

PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs parc
cc -o "$tmp/app-pc" "$here/app.c" \
  $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs parc)
LD_LIBRARY_PATH="$libdir" "$tmp/app-pc"

cmake -S "$here" -B "$tmp/user" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/user" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/user/app"
echo "install check: pkg-config and find_package both work"
