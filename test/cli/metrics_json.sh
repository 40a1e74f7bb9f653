#!/usr/bin/env bash
# The JSON metrics line, read by jansson: a truncated \u escape at the very
# end of a job's output is no metric (and no read past the output: under
# ASan, `make check-asan`, it used to be a heap-buffer-overflow); a
# surrogate pair is one UTF-8 character; a lone surrogate or \u0000 is
# U+FFFD; numbers keep the text the job wrote, NaN and Infinity included;
# bytes that are not UTF-8 become U+FFFD, in key=value values as in JSON
# strings. results.csv is always valid UTF-8 that Python's csv reads.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
mkdir out

# Each case is a job's whole stdout, written byte for byte.
printf 'acc=1\n{"a": "\\u12' >out/trunc          # ends inside the escape
printf '{"b": "\\u' >out/trunc_u
printf '{"c": "\\' >out/trunc_bs
printf '{"d": "\\ud83d\\u' >out/trunc_pair
printf '{"emoji": "\\ud83d\\ude00", "e2": "a\\uD834\\uDD1Eb"}\n' >out/pair
printf '{"hi": "\\ud800", "lo": "x\\udc00y", "rev": "\\ude00\\ud83d", "z": "a\\u0000b", "after": 1}\n' >out/lone
printf '{"f": 0.1, "g": 1e-7, "big": 123456789012345678901234567890, "huge": 1e400, "n": NaN, "m": -Infinity, "t": true, "s": "0.10", "no": null}\n' >out/numbers
printf 'name=caf\xe9 \xff\r\n{"k": "v\xff\xc3\xa9", "tab": "a\tb"}\n' >out/bytes

cases=(trunc trunc_u trunc_bs trunc_pair pair lone numbers bytes)
run_parc --results R --grid "case=$(IFS=,; echo "${cases[*]}")" cat 'out/{case}'
check_rc "every job's output read" 0
csv=R/results.csv
check_eq "one row per job" $((${#cases[@]} + 1)) \
  "$(python3 -c 'import csv,sys; print(len(list(csv.reader(open(sys.argv[1], encoding="utf-8", newline="")))))' "$csv")"

field() { csv_field "$csv" case "$1" "$2"; }
no_col() { ! csv_header "$csv" | grep -xF -- "$1" >/dev/null; }
u() { printf "$1"; } # the bytes of a printf escape

# Truncated escapes: the line is not JSON, so no JSON metric; the rest stays.
check_eq "truncated \\u at the end: key=value before it kept" 1 "$(field trunc acc)"
for col in a b c d; do
  check_true "truncated escape: no column '$col'" no_col "$col"
done

# Surrogates.
check_eq "surrogate pair: one UTF-8 character (U+1F600)" "$(u '\xf0\x9f\x98\x80')" "$(field pair emoji)"
check_eq "surrogate pair in upper case hex (U+1D11E)" "a$(u '\xf0\x9d\x84\x9e')b" "$(field pair e2)"
check_eq "lone high surrogate: U+FFFD" "$(u '\xef\xbf\xbd')" "$(field lone hi)"
check_eq "lone low surrogate: U+FFFD" "x$(u '\xef\xbf\xbd')y" "$(field lone lo)"
check_eq "surrogates in the wrong order: two U+FFFD" "$(u '\xef\xbf\xbd\xef\xbf\xbd')" "$(field lone rev)"
check_eq "\\u0000: U+FFFD" "a$(u '\xef\xbf\xbd')b" "$(field lone z)"
check_eq "members after a lone surrogate still read" 1 "$(field lone after)"

# Numbers as written.
check_eq "0.1 stays 0.1" 0.1 "$(field numbers f)"
check_eq "1e-7 stays 1e-7" 1e-7 "$(field numbers g)"
check_eq "an integer beyond 64 bits keeps its digits" 123456789012345678901234567890 "$(field numbers big)"
check_eq "1e400 stays 1e400" 1e400 "$(field numbers huge)"
check_eq "NaN (Python's json.dumps) read as written" NaN "$(field numbers n)"
check_eq "-Infinity read as written" -Infinity "$(field numbers m)"
check_eq "boolean" true "$(field numbers t)"
check_eq "string" 0.10 "$(field numbers s)"
check_true "null is no value: no column 'no'" no_col no

# Bytes that are not UTF-8.
check_eq "key=value: invalid bytes become U+FFFD" "caf$(u '\xef\xbf\xbd') $(u '\xef\xbf\xbd')" "$(field bytes name)"
check_eq "JSON string: invalid bytes become U+FFFD" "v$(u '\xef\xbf\xbd\xc3\xa9')" "$(field bytes k)"
check_eq "JSON string: a raw TAB is kept" "$(u 'a\tb')" "$(field bytes tab)"

check_true "results.csv is valid UTF-8 (strict decode)" \
  python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$csv"

done_testing
