"""The adversarial suite: every threat ends with the right status, the host
unchanged, no process left behind, and the pool still serving requests.

All cases run through the shared warm pool (bubblewrap tier here and in CI)
with 1 s / 256 MiB limits.
"""

from __future__ import annotations

import errno
import os
import socket
import textwrap

import pytest

from codelm.eval.sandbox import GradeRequest, Limits, RunRequest, Sandbox, SandboxConfig

FAST = Limits(timeout_s=1.0, memory_mb=256, max_procs=32, max_files=64,
              max_file_bytes=4 << 20, max_output_bytes=64 << 10)  # as the shared pool's (conftest)

pytestmark = pytest.mark.timeout(60)


def test_runs_in_bwrap_with_cgroups(sandbox):
    info = sandbox.info()
    assert info["tier"] == "bwrap"
    assert info["memory"] == "cgroup"
    assert info["dedicated_uids"] is True and len(set(info["uids"])) == 2
    r = sandbox.run("import os\nprint(os.getuid(), os.getcwd(), sorted(os.listdir('/')))")
    assert r.status == "passed" and r.tier == "bwrap"
    assert r.stdout == "1000 /sandbox ['bin', 'codelm', 'dev', 'etc', 'lib', 'lib64', 'proc', 'sandbox', 'sbin', 'tmp', 'usr']\n"


RUNAWAYS = {
    "fork_bomb": ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
                  "timeout", None),
    "thread_bomb": ("import threading, time\nwhile True:\n"
                    "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n",
                    "error", "RuntimeError"),
    "memory_bomb": ("chunks = []\nwhile True:\n    chunks.append(b'x' * (16 << 20))\n", "memory", None),
    "busy_loop_in_c": ("import re\nre.match(r'(a+)+$', 'a' * 64 + 'b')\n", "timeout", None),
    "sleep_forever": ("import time\ntime.sleep(10 ** 6)\n", "timeout", None),
    "ignores_signals": ("import signal\nfor s in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT, signal.SIGXCPU,"
                        " signal.SIGHUP):\n    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass\n",
                        "timeout", None),
    # kill(-1) reaches every process of the job except pid 1 (the harness) and the caller.
    "stops_everything": ("import os, signal, time\nif os.fork() == 0:\n    time.sleep(60)\n"
                         "os.kill(-1, signal.SIGSTOP)\nos.kill(os.getpid(), signal.SIGSTOP)\n", "timeout", None),
    "kill_minus_one": ("import os, signal, time\nif os.fork() == 0:\n    time.sleep(60)\n"
                       "os.kill(-1, signal.SIGKILL)\nos.kill(os.getpid(), signal.SIGKILL)\nprint('unreachable')\n",
                       "killed", None),
    "file_handles": ("fs = []\nwhile True:\n    fs.append(open('/dev/null'))\n", "error", "OSError"),
}


@pytest.mark.parametrize("name", list(RUNAWAYS))
def test_runaway_programs_end_with_the_right_status(sandbox, name, clean):
    code, status, etype = RUNAWAYS[name]
    r = sandbox.run(code)
    assert (r.status, r.error_type) == (status, etype), (r.status, r.detail, r.stderr[-300:])
    assert r.seconds < FAST.timeout_s + 2.0
    if name == "kill_minus_one":
        assert (r.signal, r.stdout) == (9, "")
    if name == "file_handles":
        assert "Too many open files" in r.stderr
    clean(sandbox)


def test_output_flood_is_capped_and_drained(sandbox, clean):
    r = sandbox.run("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n")
    assert r.status == "timeout"
    assert r.stdout == "x" * FAST.max_output_bytes and r.stdout_truncated
    # A flood that ends: the program is never blocked by a full pipe, it exits 0.
    r = sandbox.run("import sys\nfor _ in range(200):\n    sys.stdout.write('y' * 65536)\nprint('done', file=sys.stderr)\n")
    assert (r.status, r.exit_code, r.stderr) == ("passed", 0, "done\n")
    assert len(r.stdout) == FAST.max_output_bytes and r.stdout_truncated
    clean(sandbox)


def test_disk_fill_hits_file_size_and_tmpfs_caps(sandbox, clean):
    code = textwrap.dedent("""
        import errno
        try:
            with open("big", "wb") as fh:
                fh.write(b"\\0" * (8 << 20))
        except OSError as exc:
            print("big", errno.errorcode[exc.errno])
        i = 0
        while True:
            with open(f"/tmp/fill{i}", "wb") as fh:
                fh.write(b"\\0" * (1 << 20))
            i += 1
    """)
    r = sandbox.run(code)
    assert (r.status, r.error_type) == ("error", "OSError")
    assert r.stdout == "big EFBIG\n"
    assert "No space left on device" in r.stderr
    # The next run sees clean, empty directories.
    r = sandbox.run("import os\nprint(os.listdir('.'), os.listdir('/tmp'))")
    assert r.stdout == "['main.py'] []\n"
    clean(sandbox)


def test_writes_outside_the_work_dir_fail(sandbox, tmp_path, marker, clean):
    target = tmp_path / marker
    paths = ["/etc/passwd", "/usr/lib/codelm", "/codelm/runtime.py", str(target), "/proc/sys/kernel/hostname",
             "/dev/codelm", "/codelm-root-file", "/etc/codelm"]
    code = textwrap.dedent(f"""
        import errno
        for path in {paths!r}:
            try:
                with open(path, "w") as fh:
                    fh.write("owned")
                print("WROTE", path)
            except OSError as exc:
                print("blocked", errno.errorcode[exc.errno])
    """)
    r = sandbox.run(code)
    assert r.status == "passed"
    assert "WROTE" not in r.stdout and r.stdout.count("blocked") == len(paths)
    assert not target.exists()
    clean(sandbox)


def test_host_files_and_environment_secrets_are_invisible(tmp_path, marker, monkeypatch, clean):
    monkeypatch.setenv("CODELM_SANDBOX_SECRET", marker)
    secret = tmp_path / "secret.txt"
    secret.write_text(marker)
    code = textwrap.dedent(f"""
        import os
        print(dict(os.environ))
        for path in ["{secret}", "/etc/shadow", "/root/.bashrc", "/work/main/README.md", "/proc/1/environ",
                     "/proc/1/cmdline", "/proc/1/mem"]:
            try:
                with open(path, "rb") as fh:
                    print(path, fh.read(4096))
            except OSError as exc:
                print("unreadable", path, exc.errno)
    """)
    with Sandbox(SandboxConfig(workers=1, limits=FAST)) as sb:
        r = sb.run(code)
        assert r.status == "passed"
        assert marker not in r.stdout + r.stderr
        env = eval(r.stdout.splitlines()[0])  # the program's own printed dict
        assert env == {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/sandbox", "TMPDIR": "/tmp",
                       "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        unreadable = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("unreadable")]
        assert unreadable == [str(secret), "/etc/shadow", "/root/.bashrc", "/work/main/README.md",
                              "/proc/1/environ", "/proc/1/mem"]
        clean(sb)


def test_no_network_not_even_loopback(sandbox, clean):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    code = textwrap.dedent(f"""
        import socket
        for family, addr in [(socket.AF_INET, ("127.0.0.1", {port})), (socket.AF_INET6, ("::1", {port})),
                             (socket.AF_INET, ("1.1.1.1", 53))]:
            try:
                s = socket.socket(family, socket.SOCK_STREAM)
                s.settimeout(0.5)
                s.connect(addr)
                print("CONNECTED", addr)
            except OSError as exc:
                print("no route", exc.errno)
    """)
    try:
        r = sandbox.run(code)
        assert r.status == "passed"
        assert "CONNECTED" not in r.stdout and r.stdout.count("no route") == 3
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever reached the host's loopback
    finally:
        listener.close()
    clean(sandbox)


def test_killing_the_parent_cannot_hurt_the_harness(sandbox, clean):
    r = sandbox.run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
                    "os.kill(1, signal.SIGSTOP)\nprint('still here', os.getppid())\n")
    # The parent is the sandbox's pid 1: signals from inside never reach it.
    assert (r.status, r.stdout) == ("passed", "still here 1\n")
    clean(sandbox)


def test_setsid_daemons_do_not_outlive_the_run(sandbox, marker, clean, strays):
    code = textwrap.dedent(f"""
        import os, subprocess
        subprocess.Popen(["/bin/sh", "-c", "sleep 30; : {marker}"], start_new_session=True)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sh", ["/bin/sh", "-c", "sleep 30; : {marker}-2"])
            os._exit(0)
        print("daemons started")
    """)
    r = sandbox.run(code)
    assert (r.status, r.stdout) == ("passed", "daemons started\n")
    assert strays(marker) == []
    clean(sandbox, marker)


def test_nested_namespaces_and_ptrace_are_refused(sandbox, clean):
    code = textwrap.dedent("""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        for flag in (0x10000000, 0x20000000, 0x00020000):  # CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNS
            print("unshare", hex(flag), "ok" if libc.unshare(flag) == 0 else "refused")
        print("ptrace", "ok" if libc.ptrace(16, 1, None, None) == 0 else "refused")  # PTRACE_ATTACH pid 1
        print("unshare -r", os.system("unshare -r true 2>/dev/null") != 0)
    """)
    r = sandbox.run(code)
    assert r.status == "passed"
    assert r.stdout == ("unshare 0x10000000 refused\nunshare 0x20000000 refused\nunshare 0x20000 refused\n"
                        "ptrace refused\nunshare -r True\n")
    clean(sandbox)


def test_worker_restarts_after_its_sandbox_dies(sandbox, clean):
    w = sandbox._pool.workers[0]
    os.kill(w.proc.pid, 9)  # as if the worker died under us
    results = [sandbox.run("print('ok')") for _ in range(4)]
    assert [r.status for r in results] == ["passed"] * 4
    clean(sandbox)


def test_limits_apply_per_request(sandbox, clean):
    r = sandbox.run("x = b'x' * (400 << 20)\nprint(len(x))", limits=Limits(timeout_s=5, memory_mb=600))
    assert (r.status, r.stdout) == ("passed", f"{400 << 20}\n")
    r = sandbox.run("x = b'x' * (400 << 20)", limits=FAST)
    assert r.status == "memory"
    r = sandbox.run("import errno\ntry:\n    with open('f', 'wb') as fh:\n        fh.write(b'1' * 2048)\n"
                    "except OSError as e:\n    print(errno.errorcode[e.errno])", limits=Limits(max_file_bytes=1024))
    assert r.stdout == "EFBIG\n"
    clean(sandbox)


def test_errno_is_the_kernels(sandbox):
    # Sanity for the cases above: errno names come from the sandboxed kernel view.
    r = sandbox.run("import errno\nprint(errno.ENOSPC, errno.EFBIG)")
    assert r.stdout == f"{errno.ENOSPC} {errno.EFBIG}\n"


def test_shrinking_limits_waits_for_the_previous_job(sandbox, clean):
    # A big job returns early (graded); the next one on the same worker lowers the memory
    # cgroup. The previous process must be gone first, or its OOM kill would be blamed here.
    big = Limits(timeout_s=5, memory_mb=600)
    prog = "def f():\n    global keep\n    keep = b'x' * (400 << 20)\n    return 1\n"
    for _ in range(2):
        results = sandbox.map([
            GradeRequest(prog, "assert f() == 1\n", "f", limits=big) for _ in range(2)])
        assert [r.status for r in results] == ["passed", "passed"]
        small = sandbox.map([RunRequest("print(2)", limits=FAST) for _ in range(2)])
        assert [(r.status, r.stdout) for r in small] == [("passed", "2\n")] * 2
    clean(sandbox)
