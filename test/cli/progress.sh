#!/usr/bin/env bash
# Progress on stderr: a plain line every 5 s when stderr is not a terminal,
# a bar redrawn in place on a terminal (failed count in colour unless
# NO_COLOR), nothing with --quiet. Job output is unaffected.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1

# Not a terminal: two runs of ~5.6 s side by side, one with --quiet.
"$PARC" run -j 1 --shell 'sleep 5.6; echo done-{}' ::: a </dev/null >plain.out 2>plain.err &
p1=$!
BG_PIDS+=("$p1")
"$PARC" run --quiet -j 1 --shell 'sleep 5.6; echo done-{}' ::: a </dev/null >quiet.out 2>quiet.err &
p2=$!
BG_PIDS+=("$p2")
wait "$p1"
rc1=$?
wait "$p2"
rc2=$?
check_eq "plain progress run (exit)" 0 "$rc1"
check_eq "--quiet run (exit)" 0 "$rc2"
check_eq "progress does not go to stdout" "done-a" "$(cat plain.out)"
check_ne "not a terminal: a progress line within 5.6 s" "" "$(cat plain.err)"
check_eq "not a terminal: progress lines are plain (no escape sequences)" 0 \
  "$(grep -c $'\x1b' plain.err)"
check_eq "not a terminal: progress is whole lines, no carriage returns" 0 \
  "$(grep -c $'\r' plain.err)"
check_eq "--quiet: nothing on stderr" "" "$(cat quiet.err)"
check_eq "--quiet: job output still printed" "done-a" "$(cat quiet.out)"

# A terminal (through script(1)): a bar redrawn in place, colour for the
# failed count unless NO_COLOR is set.
if command -v script >/dev/null 2>&1 && script -qec true /dev/null >/dev/null 2>&1; then
  cmd="$(printf '%q' "$PARC") run -j 1 --shell 'sleep 0.7; exit {}' ::: 1 0"
  env -u NO_COLOR TERM=xterm script -qec "$cmd" /dev/null >tty.out 2>&1
  check_true "terminal: the bar is redrawn in place (\\r or an escape sequence)" \
    grep -qP '\r(?!\n)|\x1b\[' tty.out
  check_true "terminal: colour (SGR) for the failed count" \
    grep -Eq $'\x1b\\[[0-9;]*(3[0-7]|9[0-7]|38)[0-9;]*m' tty.out
  NO_COLOR=1 TERM=xterm script -qec "$cmd" /dev/null >tty2.out 2>&1
  check_true "terminal with NO_COLOR: the bar is still drawn" \
    grep -qP '\r(?!\n)|\x1b\[' tty2.out
  check_eq "terminal with NO_COLOR: no colour" 0 \
    "$(grep -Ec $'\x1b\\[[0-9;]*(3[0-7]|9[0-7]|38)[0-9;]*m' tty2.out)"
  env -u NO_COLOR TERM=xterm script -qec "${cmd/run /run --quiet }" /dev/null >tty3.out 2>&1
  check_eq "terminal with --quiet: no bar" 0 "$(grep -c $'\x1b\\[' tty3.out)"
else
  echo "# script(1) with a pty not available: terminal checks skipped"
fi

done_testing
