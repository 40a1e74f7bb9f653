# Assertion library for the end-to-end tests of `parc run` (sourced, not run).
#
# Every check prints one "ok" line when it passes; the first failing check
# prints what was expected and what came instead, then ends the script with
# exit 1. Each script gets a scratch directory $T (removed on exit) and runs
# parc with run_parc, which leaves $OUT, $ERR (contents, trailing newlines
# stripped), $OUT_FILE, $ERR_FILE and $RC behind.

set -u
set -o pipefail

TEST_NAME=$(basename "$0" .sh)
LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PARC=${PARC:-$LIB_DIR/../../build/parc}
# Longest any one parc run may take before the test calls it hung.
PARC_TEST_LIMIT=${PARC_TEST_LIMIT:-120}
CHECKS=0
BG_PIDS=()

if [ ! -x "$PARC" ]; then
  echo "FAIL [$TEST_NAME]: no parc binary at '$PARC' (set PARC)" >&2
  exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/parc-cli-$TEST_NAME.XXXXXX") || exit 1
cleanup() {
  local p
  for p in "${BG_PIDS[@]+"${BG_PIDS[@]}"}"; do
    kill -KILL "$p" 2>/dev/null
  done
  rm -rf "$T"
}
trap cleanup EXIT

fail() {
  echo "FAIL [$TEST_NAME]: $*" >&2
  if [ -n "${OUT_FILE:-}" ] && [ -e "$OUT_FILE" ]; then
    echo "  last parc run: rc=${RC:-(running)}" >&2
    echo "  stdout: $(head -c 2000 "$OUT_FILE")" >&2
    echo "  stderr: $(head -c 2000 "$ERR_FILE")" >&2
  fi
  exit 1
}

ok() {
  CHECKS=$((CHECKS + 1))
  echo "ok $CHECKS - $*"
}

# show VALUE: the value between markers, newlines and tabs made visible.
show() {
  printf '«%s»' "$1" | sed -e 's/\t/\\t/g' | sed -e ':a;N;$!ba;s/\n/\\n/g'
}

check_eq() { # DESCRIPTION EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then ok "$1"; else
    fail "$1
  expected: $(show "$2")
  actual:   $(show "$3")"
  fi
}

check_ne() { # DESCRIPTION UNEXPECTED ACTUAL
  if [ "$2" != "$3" ]; then ok "$1"; else
    fail "$1
  expected anything but: $(show "$2")"
  fi
}

check_contains() { # DESCRIPTION NEEDLE HAYSTACK
  case "$3" in
    *"$2"*) ok "$1" ;;
    *) fail "$1
  expected to contain: $(show "$2")
  actual:              $(show "$3")" ;;
  esac
}

check_not_contains() { # DESCRIPTION NEEDLE HAYSTACK
  case "$3" in
    *"$2"*) fail "$1
  expected not to contain: $(show "$2")
  actual:                  $(show "$3")" ;;
    *) ok "$1" ;;
  esac
}

# (grep reads all its input, never -q: with pipefail, a writer cut off by
# an early exit of grep -q would turn a match into a failure)
check_match() { # DESCRIPTION EXTENDED-REGEX ACTUAL (some line must match)
  if printf '%s\n' "$3" | grep -E -- "$2" >/dev/null; then ok "$1"; else
    fail "$1
  expected a line matching: $2
  actual:                   $(show "$3")"
  fi
}

check_true() { # DESCRIPTION COMMAND...
  local desc=$1
  shift
  if "$@"; then ok "$desc"; else fail "$desc (false: $*)"; fi
}

check_file() { # DESCRIPTION PATH
  if [ -e "$2" ]; then ok "$1"; else fail "$1: expected $2 to exist"; fi
}

check_absent() { # DESCRIPTION PATH
  if [ ! -e "$2" ] && [ ! -L "$2" ]; then ok "$1"; else
    fail "$1: expected $2 not to exist"
  fi
}

check_rc() { # DESCRIPTION EXPECTED (against $RC of the last run_parc)
  check_eq "$1 (exit status)" "$2" "$RC"
}

# run_parc ARGS...: runs `parc run ARGS...` with stdin from $PARC_STDIN
# (default /dev/null), stdout and stderr to files, under a hang guard.
run_parc() {
  run_parc_cmd run "$@"
}

# run_parc_cmd SUBCOMMAND ARGS...: the same for any subcommand.
run_parc_cmd() {
  OUT_FILE=$T/.parc.out
  ERR_FILE=$T/.parc.err
  timeout -k 5 "$PARC_TEST_LIMIT" "$PARC" "$@" \
    <"${PARC_STDIN:-/dev/null}" >"$OUT_FILE" 2>"$ERR_FILE"
  RC=$?
  OUT=$(cat "$OUT_FILE")
  ERR=$(cat "$ERR_FILE")
  if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
    fail "parc $* did not end within ${PARC_TEST_LIMIT}s"
  fi
  return 0
}

# wait_for SECONDS COMMAND...: polls until COMMAND succeeds; 1 on time out.
wait_for() {
  local limit=$1 i=0
  shift
  while ! "$@"; do
    i=$((i + 1))
    [ "$i" -gt $((limit * 20)) ] && return 1
    sleep 0.05
  done
  return 0
}

# gone PID: the process no longer exists or is a zombie.
gone() {
  local state
  [ -r "/proc/$1/stat" ] || return 0
  state=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [ -z "$state" ] || [ "$state" = Z ] || [ "$state" = X ]
}

# check_gone DESCRIPTION PID...: each process is gone (allowing a few seconds
# for a killed process to be reaped).
check_gone() {
  local desc=$1 p
  shift
  for p in "$@"; do
    wait_for 5 gone "$p" || fail "$desc: process $p is still alive"
  done
  ok "$desc"
}

# count_lines FILE: number of lines (0 when the file is missing).
count_lines() {
  if [ -e "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi
}

# csv_field FILE KEYCOL KEY COL: the COL field of the row whose KEYCOL field
# is KEY, in an RFC 4180 CSV with a header row (quoted fields allowed; the
# value is printed unquoted). Prints one line per matching row.
csv_field() {
  awk -v keycol="$2" -v key="$3" -v col="$4" '
    function parse(line,   i, c, f, q, n) {
      n = 0; f = ""; q = 0
      for (i = 1; i <= length(line); i++) {
        c = substr(line, i, 1)
        if (q) {
          if (c == "\"") {
            if (substr(line, i + 1, 1) == "\"") { f = f "\""; i++ } else q = 0
          } else f = f c
        } else if (c == "\"") q = 1
        else if (c == ",") { fld[++n] = f; f = "" }
        else f = f c
      }
      fld[++n] = f
      return n
    }
    NR == 1 { n = parse($0); for (i = 1; i <= n; i++) idx[fld[i]] = i; next }
    { parse($0); if (fld[idx[keycol]] == key) print fld[idx[col]] }
  ' "$1"
}

# csv_header FILE: the header fields, one per line.
csv_header() {
  head -n 1 "$1" | tr ',' '\n'
}

done_testing() {
  echo "# $TEST_NAME: all $CHECKS checks passed"
  exit 0
}

# lines ARGS...: the arguments, one per line (to build expected outputs).
lines() {
  printf '%s\n' "$@"
}

# start_parc_bg ARGS...: starts `parc run ARGS...` in the background, with
# SIGINT not ignored (job control on, as when started from a terminal), its
# output in $OUT_FILE/$ERR_FILE; $BG_PID is parc itself (no wrapper, so a
# signal sent to it reaches parc only once).
start_parc_bg() {
  OUT_FILE=$T/.parc.out
  ERR_FILE=$T/.parc.err
  set -m
  "$PARC" run "$@" <"${PARC_STDIN:-/dev/null}" >"$OUT_FILE" 2>"$ERR_FILE" &
  BG_PID=$!
  set +m
  BG_PIDS+=("$BG_PID")
}

# wait_parc_bg SECONDS: waits for the background parc; sets $RC, $OUT, $ERR.
wait_parc_bg() {
  if ! wait_for "$1" gone "$BG_PID"; then
    kill -KILL "$BG_PID" 2>/dev/null
    fail "background parc did not exit within $1 s"
  fi
  wait "$BG_PID"
  RC=$?
  OUT=$(cat "$OUT_FILE")
  ERR=$(cat "$ERR_FILE")
}
