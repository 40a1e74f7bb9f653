#!/bin/bash
# The bash completion (completion/parc.bash): sourced into this bash, its
# function is called as bash would call it (COMP_WORDS, COMP_CWORD) and
# what it offers is checked. With the parc binary, also that every option
# each command's --help names is offered.
# Usage: completion.sh COMPLETION_FILE [PARC]
set -u
comp=$1
parc=${2:-}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# shellcheck source=/dev/null
. "$comp" || { echo "FAIL: cannot source $comp"; exit 1; }
complete -p parc | grep -q -- '-F _parc parc' || fail "complete -F _parc parc not registered"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/runs" "$tmp/rungs"
: >"$tmp/results.csv"
cd "$tmp" || exit 1

# complete WORDS...: the words of the line, the last one the one completed
# (empty for a new word); prints what is offered, one per line, sorted.
complete_line() {
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMP_LINE="$*"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _parc parc "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  printf '%s\n' "${COMPREPLY[@]}" | sort
}

# expect DESCRIPTION WANT WORDS...: WANT (words joined by spaces) is
# exactly what is offered.
expect() {
  local desc=$1 want=$2 got
  shift 2
  got=$(complete_line "$@" | tr '\n' ' ' | sed 's/ $//')
  [ "$got" = "$want" ] || fail "$desc: want '$want', got '${got:0:200}'"
}
# offers DESCRIPTION WORD WORDS...: WORD is among what is offered.
offers() {
  local desc=$1 word=$2
  shift 2
  complete_line "$@" | grep -qxF -- "$word" || fail "$desc: '$word' not offered"
}

expect "the commands" "--help --version bench plan probe run" parc ""
expect "a command by its start" "probe" parc pr
expect "top-level options" "--help --version" parc --
expect "run's long option by prefix" "--halving" parc run --halv
expect "--halving's modes" "async sync" parc run --halving ""
expect "--halving=MODE" "async" parc run --halving = a
expect "--resume-by's values" "command seq" parc run --jl log --resume-by ""
expect "--results: directories" "rungs runs" parc run --results ru
expect "--results=DIR" "rungs runs" parc run --results = ru
expect "a unique prefix is its option: --resul DIR" "rungs runs" parc run --resul ru
expect "-a FILE in a bundle" "results.csv" parc run -ka res
expect "-j's value is not a command" "" parc run -j ""
offers "the command after the options" echo parc run -kj2 ec
offers "the command after -j N" echo parc run -j 4 ec
offers "the command after --" echo parc run -- ec
expect "the command's arguments are files" "results.csv" parc run echo res
expect "an option after the command is its argument" "results.csv" parc run echo -v res
expect "the sources" "::: :::+ :::: ::::+" parc run echo ::
expect "after ::::, files" "results.csv" parc run echo :::: res
offers "parc run's new options" --retry-memory parc run --re
offers "parc run's new options" --sample parc run --sa
expect "probe's options" "--dir --help --json --quick" parc probe --
expect "probe --dir: directories" "rungs runs" parc probe --dir r
expect "bench's options" "--fit-tol" parc bench --fi
expect "bench --out: directories" "rungs runs" parc bench --quick --out r
expect "plan --from: files" "results.csv" parc plan --from res
expect "plan --deadline takes a time" "" parc plan --deadline ""
offers "plan's options" --serial-fraction parc plan --se

# Every option of each command's --help is offered.
if [ -n "$parc" ]; then
  for cmd in run probe bench plan; do
    opts=$("$parc" "$cmd" --help | grep -o -- '--[a-z][a-z-]*' | sort -u |
      grep -vx -- '--opt')
    [ -n "$opts" ] || fail "parc $cmd --help names no option"
    for o in $opts; do
      offers "parc $cmd --help's $o" "$o" parc "$cmd" "$o"
    done
  done
fi

[ "$fails" -eq 0 ] || { echo "$fails completion check(s) failed"; exit 1; }
echo "completion: all checks passed"
