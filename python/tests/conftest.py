"""Shared fixtures of parc's pytest suite (keep this file small)."""
import os

import pytest


def _children_of():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # state, ppid, ...
        kids.setdefault(int(fields[1]), []).append(int(name))
    return kids


@pytest.fixture
def no_child_left():
    """Kills and reaps, after the test, every child of parc.Process or of
    multiprocessing's fork context the test left running."""
    yield
    import multiprocessing
    import parc
    for mod in (parc, multiprocessing.get_context("fork")):
        for p in mod.active_children():
            p.kill()
            p.join(5)


@pytest.fixture
def descendants():
    """descendants() -> the pids of every live process below this one."""
    def find(root=None):
        kids = _children_of()
        out, todo = [], [root or os.getpid()]
        while todo:
            for pid in kids.get(todo.pop(), []):
                out.append(pid)
                todo.append(pid)
        return sorted(out)
    return find


@pytest.fixture
def subprocess_env():
    """The environment for a child python3 that imports this parc."""
    import parc
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(parc.__file__))]
        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env
