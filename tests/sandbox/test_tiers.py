"""Tier choice never silently degrades; the weaker tiers and the rlimit memory
mode work; cgroups are created and cleaned up."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from codelm.errors import ConfigError
from codelm.eval.sandbox import (
    Limits,
    Sandbox,
    SandboxConfig,
    SandboxUnavailableError,
    SandboxUnsafeWarning,
    cgroups,
    tiers,
)

pytestmark = pytest.mark.timeout(60)

SMALL = Limits(timeout_s=1.0, memory_mb=128, max_procs=32)


@pytest.fixture
def no_namespace_tools(tmp_path, monkeypatch):
    """A PATH on which neither bwrap nor unshare exists (as on a host without them)."""
    monkeypatch.setenv("PATH", str(tmp_path))
    tiers.probe.cache_clear()
    yield
    tiers.probe.cache_clear()


def test_rlimit_tier_needs_explicit_consent():
    with pytest.raises(ConfigError, match="allow_unsafe"):
        Sandbox(SandboxConfig(tier="rlimit", workers=1)).start()


def test_unavailable_tier_is_an_error_not_a_downgrade(no_namespace_tools):
    with pytest.raises(SandboxUnavailableError, match="bubblewrap"):
        Sandbox(SandboxConfig(tier="bwrap", workers=1)).start()
    with pytest.raises(SandboxUnavailableError, match="no sandbox tier is available"):
        Sandbox(SandboxConfig(tier="auto", workers=1)).start()


def test_auto_falls_back_to_rlimit_only_when_allowed_and_warns(no_namespace_tools, marker, clean, strays):
    with pytest.warns(SandboxUnsafeWarning) as caught:
        sb = Sandbox(SandboxConfig(tier="auto", allow_unsafe=True, workers=1, limits=SMALL)).start()
    messages = [str(w.message) for w in caught]
    assert any(m.startswith("no namespace tier available") for m in messages)
    assert any(m.startswith("UNSAFE: the 'rlimit' tier") for m in messages)
    try:
        assert sb.tier == "rlimit"
        r = sb.run("print('hello')")
        assert (r.status, r.stdout, r.tier) == ("passed", "hello\n", "rlimit")
        # Limits and cleanup still hold: a setsid daemon and a busy loop end with the run.
        code = textwrap.dedent(f"""
            import os, subprocess
            subprocess.Popen(["/bin/sh", "-c", "sleep 30; : {marker}"], start_new_session=True)
            while True:
                pass
        """)
        assert sb.run(code).status == "timeout"
        assert strays(marker) == []
        assert sb.grade("def f(x):\n    return x\n", "assert f(2) == 2\n", "f").passed
        clean(sb)
    finally:
        sb.close()


def test_unshare_tier_isolates(marker, tmp_path):
    host_file = Path("/tmp") / marker
    host_file.write_text("host")
    try:
        with Sandbox(SandboxConfig(tier="unshare", workers=1, limits=SMALL)) as sb:
            assert sb.tier == "unshare"
            code = textwrap.dedent(f"""
                import os, socket
                print(os.path.exists("/tmp/{marker}"), os.listdir("/root"), os.listdir("/home"))
                for path in ("/etc/codelm", "/usr/codelm", "{tmp_path}/x"):
                    try:
                        open(path, "w")
                        print("WROTE", path)
                    except OSError as exc:
                        print("blocked", exc.errno)
                s = socket.socket()
                s.settimeout(0.5)
                print("connect", s.connect_ex(("127.0.0.1", 22)) != 0)
            """)
            r = sb.run(code)
            assert r.status == "passed" and r.tier == "unshare"
            lines = r.stdout.splitlines()
            assert lines[0] == "False [] []"
            assert [line.split()[0] for line in lines[1:4]] == ["blocked"] * 3
            assert lines[4] == "connect True"
            assert sb.run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint('ok')").stdout == "ok\n"
            assert sb.run("while True:\n    pass").status == "timeout"
            assert not (tmp_path / "x").exists()
    finally:
        host_file.unlink()


def test_address_space_memory_mode(clean):
    with Sandbox(SandboxConfig(tier="bwrap", memory="rlimit", workers=1, limits=SMALL)) as sb:
        assert sb.info()["memory"] == "rlimit"
        # The limit is relative to the interpreter's own size: 64 MiB of data fit in 128 MiB.
        r = sb.run("x = b'x' * (64 << 20)\nprint(len(x) >> 20)")
        assert (r.status, r.stdout) == ("passed", "64\n")
        r = sb.run("x = b'x' * (256 << 20)")
        assert (r.status, r.error_type) == ("memory", "MemoryError")
        g = sb.grade("def f():\n    return len(b'x' * (512 << 20))\n", "assert f() == 1\n", "f")
        assert g.status == "memory"
        clean(sb)


def test_cgroups_are_nested_limited_and_removed():
    group, why = cgroups.CgroupGroup.create()
    assert group is not None, why
    slot = group.slot(0)
    try:
        slot.set_memory(64 << 20)
        slot.set_pids(10)
        assert slot.memory_usage() == 0 and slot.pids() == []
        assert all(str(d).startswith(str(group.parents[c])) for c, d in slot.dirs.items())
    finally:
        group.remove()
    assert not any(d.exists() for d in slot.dirs.values())
    assert not any(d.exists() for d in group.parents.values())


def test_stale_cgroups_of_dead_processes_are_removed():
    group, _ = cgroups.CgroupGroup.create()
    assert group is not None
    dead = {c: d.with_name(f"codelm-{2 ** 22 + 12345}-0") for c, d in group.parents.items()}
    group.remove()
    for d in dead.values():
        d.mkdir()
        (d / "slot-0-0").mkdir()
    assert cgroups.remove_stale() >= len(dead)
    assert not any(d.exists() for d in dead.values())


def test_dedicated_uids_are_leased_exclusively():
    assert os.geteuid() == 0  # CI and this machine run as root
    a, b = tiers.UidLease(400000), tiers.UidLease(400000)
    try:
        assert (a.uid, b.uid) == (400000, 400001)
    finally:
        a.release()
        b.release()
    c = tiers.UidLease(400000)
    assert c.uid == 400000
    c.release()


def test_remove_tree_repairs_permissions_inside_only(tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir(mode=0o755)
    tree = parent / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "f").write_text("x")
    os.chmod(tree / "a" / "b", 0)
    os.chmod(tree / "a", 0)
    tiers.remove_tree(tree)
    assert not tree.exists()
    tiers.remove_tree(parent / "missing")  # nothing to do, and the parent is left alone
    assert oct(parent.stat().st_mode & 0o777) == "0o755"


def test_stale_runtime_dirs_of_dead_processes_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tiers.tempfile, "gettempdir", lambda: str(tmp_path))
    dead = tmp_path / f"codelm-sandbox-{2 ** 22 + 54321}-abc"
    alive = tmp_path / f"codelm-sandbox-{os.getpid()}-abc"
    for d in (dead, alive):
        d.mkdir()
        (d / "runtime.py").write_text("")
    assert tiers.remove_stale_runtime_dirs() == 1
    assert not dead.exists() and alive.exists()
