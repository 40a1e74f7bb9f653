#!/bin/sh
# The manual pages (man/): each renders with groff's man macros without a
# warning (-ww: all of them), at 80 columns and at 60; each has a NAME line
# that apropos can index; parc-run(1) has the sweep and memory options. With
# the parc binary, also that each page names every option its command's
# --help lists, and parc(1) every command.
# Usage: man.sh MAN_DIR [PARC]
set -u
dir=$1
parc=${2:-}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
command -v groff >/dev/null || { echo "FAIL: groff not found (Debian: groff-base)"; exit 1; }

pages="parc parc-run parc-probe parc-bench parc-plan"
for p in $pages; do
  f=$dir/$p.1
  [ -f "$f" ] || { fail "$f missing"; continue; }
  for width in 80n 60n; do
    warn=$(groff -man -Tutf8 -ww -rLL=$width -z "$f" 2>&1) ||
      fail "$p.1: groff failed at $width"
    [ -z "$warn" ] || fail "$p.1 at $width: $warn"
  done
  # NAME: one line "name \- what it does", as lexgrog/mandb read it.
  name=$(sed -n '/^\.SH NAME/{n;p;q}' "$f")
  echo "$name" | grep -q "^$(echo "$p" | sed 's/-/\\\\-/g') \\\\- ." ||
    fail "$p.1: NAME line is '$name'"
  # The page renders to text that names the command.
  groff -man -Tutf8 "$f" 2>/dev/null | grep -q "$p" ||
    fail "$p.1: rendered text lacks '$p'"
done

# roff writes a dash in an option as \-.
has_option() { # PAGE OPTION
  grep -qF -- "$(echo "$2" | sed 's/-/\\-/g')" "$dir/$1.1"
}
for o in --sample --seed --halving --budget --factor --memory --retry-memory \
  --grid --best; do
  has_option parc-run "$o" || fail "parc-run.1 lacks $o"
done
for o in loguniform: uniform: int: choice: sync async cgroup RLIMIT_AS; do
  grep -q "$o" "$dir/parc-run.1" || fail "parc-run.1 lacks '$o'"
done
has_option parc-plan --from || fail "parc-plan.1 lacks --from"

if [ -n "$parc" ]; then
  for cmd in run probe bench plan; do
    opts=$("$parc" "$cmd" --help | grep -o -- '--[a-z][a-z-]*' | sort -u |
      grep -vx -- '--opt')
    [ -n "$opts" ] || fail "parc $cmd --help lists no option"
    for o in $opts; do
      has_option "parc-$cmd" "$o" || fail "parc-$cmd.1 lacks $o (in its --help)"
    done
    grep -qF "parc\\-$cmd (1)" "$dir/parc.1" || fail "parc.1 does not refer to parc-$cmd(1)"
  done
fi

[ "$fails" -eq 0 ] || { echo "$fails manual page check(s) failed"; exit 1; }
echo "man: all pages render without warnings"
