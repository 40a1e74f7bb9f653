#!/bin/sh
# Installs the build tree into a scratch prefix and uses it as a user
# would, with nothing in the environment to help: every program runs with
# LD_LIBRARY_PATH unset, and must find the installed libraries through the
# RUNPATH the install gave it (README.md, "Install"):
#   - the README's example built with pkg-config (parc.pc's Libs carry
#     -Wl,-rpath) and with CMake's find_package (parc::parc);
#   - where libparc_mpi was built: libparc_mpi.so links the shared libparc
#     (NEEDED libparc.so.0, RUNPATH $ORIGIN), and a PARC_MPI program built
#     with parc_mpi.pc and with parc::parc_mpi runs under mpirun -n 2;
#   - the installed parc and its helpers start (parc --version, parc run);
#   - the man pages and the bash completion are where man and
#     bash-completion look for them.
# Usage: check.sh BUILD_DIR
set -eu
build=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/ | head -n 1)
libdir=${libdir%/}

fail() { echo "FAIL: $*" >&2; exit 1; }
pc() { PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config "$@"; }
bare() { env -u LD_LIBRARY_PATH "$@"; }
# finds PROGRAM LIB: the loader, unaided, takes LIB from the prefix.
finds() {
  got=$(bare ldd "$1" | awk -v lib="$2" '$1 == lib { print $3 }')
  [ -n "$got" ] && [ "$(readlink -f "$got")" = "$(readlink -f "$libdir/$2")" ] ||
    fail "$1: $2 resolves to '$got', not $libdir/$2"
}

# ---------------------------------------------------------------- libparc
flags=$(pc --cflags --libs parc)
echo "pkg-config parc: $flags"
case $flags in *-Wl,-rpath,*) ;; *) fail "parc.pc's Libs have no -Wl,-rpath" ;; esac
# shellcheck disable=SC2086
cc -o "$tmp/app-pc" "$here/app.c" $flags
finds "$tmp/app-pc" libparc.so.0
bare "$tmp/app-pc"

mpi=OFF
[ -e "$libdir/libparc_mpi.so" ] && mpi=ON
cmake -S "$here" -B "$tmp/user" -DCMAKE_PREFIX_PATH="$prefix" -DWITH_MPI=$mpi \
  >/dev/null
cmake --build "$tmp/user" >/dev/null
finds "$tmp/user/app" libparc.so.0
bare "$tmp/user/app"

# ---------------------------------------------------------------- libparc_mpi
if [ $mpi = ON ]; then
  so=$libdir/libparc_mpi.so
  readelf -d "$so" | grep -q 'NEEDED.*\[libparc\.so\.0\]' ||
    fail "libparc_mpi.so does not link the shared libparc"
  readelf -d "$so" | grep -q 'RUNPATH.*\$ORIGIN' ||
    fail "libparc_mpi.so has no RUNPATH \$ORIGIN"
  # libparc's code is in libparc.so only, not copied into libparc_mpi.so.
  if nm -D --defined-only "$so" | grep -q ' parc_pool_create$'; then
    fail "libparc_mpi.so holds a copy of libparc"
  fi
  finds "$so" libparc.so.0

  flags=$(pc --cflags --libs parc_mpi)
  echo "pkg-config parc_mpi: $flags"
  # shellcheck disable=SC2086
  cc -o "$tmp/app-mpi-pc" "$here/app_mpi.c" $flags
  finds "$tmp/app-mpi-pc" libparc_mpi.so.0
  finds "$tmp/app-mpi-pc" libparc.so.0
  finds "$tmp/user/app_mpi" libparc_mpi.so.0

  # mpirun as the MPI tests run it (test/CMakeLists.txt), with flags, not
  # environment: Open MPI runs as root and oversubscribed only when told.
  mpiexec=$(sed -n 's/^MPIEXEC_EXECUTABLE:FILEPATH=//p' "$build/CMakeCache.txt")
  mpiflags=
  if "$mpiexec" --version 2>&1 | grep -Eq 'Open MPI|OpenRTE'; then
    mpiflags=--oversubscribe
    [ "$(id -u)" -ne 0 ] || mpiflags="$mpiflags --allow-run-as-root"
  fi
  for app in "$tmp/app-mpi-pc" "$tmp/user/app_mpi"; do
    # shellcheck disable=SC2086
    out=$(bare "$mpiexec" -n 2 $mpiflags "$app")
    echo "$app: $out"
    [ "$out" = "out[99] = 198 on 2 ranks" ] || fail "$app under mpirun: '$out'"
  done
fi

# ---------------------------------------------------------------- parc
parc=$prefix/bin/parc
bare "$parc" --version | grep -q '^parc [0-9]' || fail "parc --version"
[ "$(bare "$parc" run echo ::: x)" = x ] || fail "parc run echo ::: x"
for prog in "$parc" "$prefix"/libexec/parc/*; do
  [ -x "$prog" ] || continue
  if bare ldd "$prog" | grep -q 'not found'; then
    bare ldd "$prog" >&2
    fail "$prog: a library is not found"
  fi
done

for page in parc parc-run parc-probe parc-bench parc-plan; do
  [ -f "$prefix/share/man/man1/$page.1" ] || fail "man1/$page.1 not installed"
done
comp=$prefix/share/bash-completion/completions/parc
[ -f "$comp" ] || fail "bash completion not installed"
bash -c ". '$comp' && complete -p parc" >/dev/null ||
  fail "the installed completion does not register"

echo "install check: pkg-config and find_package (parc$( [ $mpi = ON ] &&
  echo ", parc_mpi")) work without LD_LIBRARY_PATH; parc starts"
