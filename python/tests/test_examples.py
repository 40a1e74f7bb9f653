"""examples/python/: each of the seeds' programs runs on parc and, with
only its import changed back, on the standard library (multiprocessing) or
loky; both finish, and their deterministic output is the same.

How the lecture's program is recovered from the example (README there):
a comment line `# original: CODE` says that the lecture's program has CODE
instead of the line below it (`# original: (no line)`: nothing), and
`import parc as X` / `from parc import A, B` read as the same imports from
multiprocessing. What is left must not mention parc at all: that is the
claim "only the import changed". What is compared is what does not depend
on timing (CASES: each example says what of its output that is)."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.environ.get("PARC_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples", "python")
DEADLINE = 300  # seconds one run may take before it counts as hung

# Each example with a short configuration, what it needs, and what of its
# output is the same on every run (default: the lines that mention no time
# or process id, in order).
def slept(output):
    """pool_map.py: which sleeps the workers reported (in any order, by
    any worker)."""
    return sorted(float(x) for x in
                  re.findall(r"slept for ([0-9.]+) seconds", output))


def produced(output):
    """producer_consumer.py: what each producer put on the queue (its
    numbers come from its own seeded generator; the interleaving, and what
    the daemon consumers took before the program ended, vary)."""
    lines = output.splitlines()
    put = sorted(x for x in lines if x.startswith("Producer "))
    got = [int(x.split()[-1]) for x in lines if " got " in x]
    numbers = [int(x.split()[3]) for x in put]
    for n in got:  # a consumer only gets what a producer put
        assert n in numbers, (n, output)
        numbers.remove(n)
    return put


CASES = {
    "pool_map.py": dict(args=[], needs=[], compare=slept),
    "producer_consumer.py": dict(args=[], needs=["numpy"],
                                 compare=produced),
    "gridsearch.py": dict(args=["--samples", "600", "--folds", "3",
                                "--jobs", "2"], needs=["sklearn"]),
}

MARK = re.compile(r"^(\s*)#\s*original:\s?(.*)$")
IMPORT_AS = re.compile(r"^(\s*)import parc as (\w+)(.*)$")
FROM_IMPORT = re.compile(r"^(\s*)from parc import (.*)$")
VOLATILE = re.compile(r"\btimes?\b|\bpids?\b|\belapsed\b|\bseconds?\b"
                      r"|\d\s*(s|ms|us|µs|ns)\b|/s\b", re.I)
MENTIONS_PARC = re.compile(r"\bparc\b")


def depth(code):
    """Open brackets left by code (strings and comments ignored), and
    whether it ends in a backslash: the statement goes on below."""
    code = re.sub(r"'[^']*'|\"[^\"]*\"|#.*", "", code)
    n = sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
    return n > 0 or code.rstrip().endswith("\\")


def statement_end(lines, i):
    """The index after the statement that starts at lines[i]."""
    text = ""
    while i < len(lines):
        text += lines[i] + "\n"
        i += 1
        if not depth(text):
            break
    return i


def original_source(text):
    """The lecture's program from the example's text: each `# original:
    CODE` comment (and the comment lines below it that CODE's open
    brackets carry on to) replaces the statement below it."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        m = MARK.match(lines[i])
        if m:
            indent, code = m.group(1), [m.group(2).rstrip()]
            i += 1
            while (i < len(lines) and depth("\n".join(code))
                   and lines[i].strip().startswith("#")):
                code.append(re.sub(r"^\s*# ?", "", lines[i]).rstrip())
                i += 1
            i = statement_end(lines, i)
            if code != ["(no line)"]:
                out.extend(indent + c for c in code)
            continue
        line = lines[i]
        i += 1
        m = IMPORT_AS.match(line)
        if m:
            line = "%simport multiprocessing as %s%s" % m.groups()
        m = FROM_IMPORT.match(line)
        if m:
            line = "%sfrom multiprocessing import %s" % m.groups()
        out.append(line)
    return "\n".join(out) + "\n"


def code_lines(text):
    """Lines of code, without comments, docstrings or string-only lines."""
    body = re.sub(r'"""(.|\n)*?"""', "", text)
    for line in body.splitlines():
        line = line.split("#", 1)[0]
        if line.strip():
            yield line


def deterministic(output):
    return [line.rstrip() for line in output.splitlines()
            if line.strip() and not VOLATILE.search(line)]


def child_env():
    """This environment, with the parc this test imports first on the
    path (PYTHONPATH may be relative, and the examples run elsewhere)."""
    import parc
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.abspath(parc.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        [here] + [os.path.abspath(p) for p in
                  env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def run(path, args, cwd):
    env = child_env()
    try:
        p = subprocess.run([sys.executable, path] + args, capture_output=True,
                           text=True, timeout=DEADLINE, cwd=cwd, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("%s hung: no end in %d s" % (path, DEADLINE))
    assert p.returncode == 0, "%s failed (exit %d):\n%s%s" % (
        path, p.returncode, p.stdout[-3000:], p.stderr[-3000:])
    return p.stdout


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_runs_on_parc_and_as_the_lecture_wrote_it(name, tmp_path):
    path = os.path.join(EXAMPLES, name)
    assert os.path.exists(path), "%s is missing" % path
    case = CASES[name]
    for mod in case["needs"]:
        pytest.importorskip(mod)
    with open(path) as f:
        text = f.read()
    assert MENTIONS_PARC.search("\n".join(code_lines(text))), \
        "%s does not use parc" % name
    original = original_source(text)
    left = [line for line in code_lines(original)
            if MENTIONS_PARC.search(line)]
    assert not left, "more than the import differs:\n" + "\n".join(left)
    copy = tmp_path / name
    copy.write_text(original)

    ours = run(path, case["args"], EXAMPLES)
    theirs = run(str(copy), case["args"], EXAMPLES)
    same = case.get("compare", deterministic)
    assert same(ours), "%s printed nothing to compare:\n%s" % (name, ours)
    assert same(ours) == same(theirs), (ours, theirs)


def test_the_rewrite_reads_the_marks():
    text = ("import os\n# original: (no line)\nimport parc.joblib\n"
            "    # original: with joblib.parallel_backend(\"loky\"):\n"
            "    with joblib.parallel_backend(\"parc\"):\n"
            "import parc as mp\nfrom parc import Pool, Queue\n"
            "# original: from multiprocessing import (Pool,\n"
            "#                                        Lock)\n"
            "from parc import (Pool,\n"
            "                  Lock)\n"
            "# a comment\n")
    assert original_source(text) == (
        "import os\n    with joblib.parallel_backend(\"loky\"):\n"
        "import multiprocessing as mp\n"
        "from multiprocessing import Pool, Queue\n"
        "from multiprocessing import (Pool,\n"
        "                                       Lock)\n"
        "# a comment\n")
