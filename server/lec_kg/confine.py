"""The second wall around a query worker: no network, and a memory ceiling.

`guard` refuses SERVICE, LOAD and remote FROM before a query reaches a worker; this module makes
sure that a bug in that guard still cannot become a request. A worker calls `confine` first
thing, before it reads any request and while it has one thread only (so every thread pyoxigraph
starts later inherits all of it):

- netns: a new network namespace (`unshare(CLONE_NEWNET)`; without the privilege for that,
  a new user namespace with it). It holds only a loopback interface that is down: no address,
  no route, nothing to connect to.
- caps: every capability dropped (bounding set first, then the process's own), so a worker
  running as root cannot open the serving process's /proc/<pid>/mem or undo the namespace,
  and a program it started would not get them back.
- seccomp: a seccomp-BPF filter, built here by hand, that answers EPERM to `socket`,
  `socketpair`, `connect`, the io_uring calls (io_uring would do I/O without passing the
  filter), to the calls that could reach the network through another process or undo the
  namespace (`ptrace`, `process_vm_readv/writev`, `pidfd_getfd`, `setns`, `unshare`), and to
  `execve`/`execveat` (a worker never starts a program); it also refuses every call made
  through another architecture's system-call table (x32, i386 via `int 0x80`), whose numbers
  differ. Known for x86_64 and aarch64; elsewhere it is not applied.
- rlimit_as: `RLIMIT_AS`, the address space one worker may use, so a query that builds an
  ever larger value stops at the ceiling instead of taking the machine's memory.

What could not be applied is not fatal: `confine` returns which walls hold, the worker passes
that on to the parent in its reply to the load request, and the service logs it and shows it on
/ready (`isolation`).
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import struct

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
CAPS_VERSION_3 = 0x20080522
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
EINVAL = 22

# BPF opcodes (linux/filter.h) and the offsets of struct seccomp_data's fields.
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_RET_K = 0x06
NR_OFFSET = 0
ARCH_OFFSET = 4


class _Arch:
    """One architecture's audit number, seccomp() call number and the calls refused."""

    def __init__(self, audit: int, seccomp_nr: int, refused: dict[str, int], *, x32: bool) -> None:
        self.audit = audit
        self.seccomp_nr = seccomp_nr
        self.refused = refused
        self.x32 = x32  # refuse numbers with __X32_SYSCALL_BIT (x86_64 only)


ARCHES = {
    "x86_64": _Arch(
        0xC000003E,
        317,
        {
            "socket": 41,
            "connect": 42,
            "socketpair": 53,
            "execve": 59,
            "ptrace": 101,
            "unshare": 272,
            "setns": 308,
            "process_vm_readv": 310,
            "process_vm_writev": 311,
            "execveat": 322,
            "io_uring_setup": 425,
            "io_uring_enter": 426,
            "io_uring_register": 427,
            "pidfd_getfd": 438,
        },
        x32=True,
    ),
    "aarch64": _Arch(
        0xC00000B7,
        277,
        {
            "unshare": 97,
            "ptrace": 117,
            "socket": 198,
            "socketpair": 199,
            "connect": 203,
            "execve": 221,
            "setns": 268,
            "process_vm_readv": 270,
            "process_vm_writev": 271,
            "execveat": 281,
            "io_uring_setup": 425,
            "io_uring_enter": 426,
            "io_uring_register": 427,
            "pidfd_getfd": 438,
        },
        x32=False,
    ),
}
ARCHES["arm64"] = ARCHES["aarch64"]
ARCHES["amd64"] = ARCHES["x86_64"]


def confine(memory_mb: int | None) -> dict[str, object]:
    """Apply every wall this process can have; say which hold (and why not, for the others).

    Call it while the process has a single thread."""
    libc = ctypes.CDLL(None, use_errno=True)
    walls: dict[str, object] = {}
    notes: list[str] = []
    for name, apply in (
        ("netns", lambda: new_network_namespace(libc)),
        ("rlimit_as", lambda: limit_memory(memory_mb)),
        ("caps", lambda: drop_capabilities(libc)),
        ("seccomp", lambda: install_network_filter(libc)),  # last: it refuses unshare
    ):
        try:
            apply()
            walls[name] = True
        except OSError as exc:
            walls[name] = False
            notes.append(f"{name}: {exc.strerror or exc}")
    if notes:
        walls["notes"] = notes
    return walls


def new_network_namespace(libc: ctypes.CDLL) -> None:
    """Move this process into a network namespace of its own (no usable interface)."""
    if libc.unshare(CLONE_NEWNET) == 0:
        return
    first = ctypes.get_errno()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:  # unprivileged; single thread only
        return
    errno = ctypes.get_errno() or first
    raise OSError(errno, f"unshare(CLONE_NEWNET) failed: {os.strerror(errno)}")


def limit_memory(memory_mb: int | None) -> None:
    """Cap this process's address space at `memory_mb` MiB (None: leave it as it is)."""
    if memory_mb is None:
        raise OSError(0, "no limit configured")
    limit = memory_mb * 2**20
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY and hard < limit:
        limit = hard
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except ValueError as exc:
        raise OSError(0, f"setrlimit(RLIMIT_AS) failed: {exc}") from exc


def drop_capabilities(libc: ctypes.CDLL) -> None:
    """Drop every capability: from the bounding set (while CAP_SETPCAP is still held), then
    the effective, permitted and inheritable sets."""
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == EINVAL:
            break  # past the last capability this kernel knows
    header = (ctypes.c_uint32 * 2)(CAPS_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # two of {effective, permitted, inheritable}, all zero
    if libc.capset(header, data) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"capset() failed: {os.strerror(errno)}")


def network_filter(arch: _Arch) -> bytes:
    """The seccomp-BPF program (struct sock_filter[]) refusing `arch.refused` with EPERM."""
    deny = SECCOMP_RET_ERRNO | EPERM
    calls = sorted(set(arch.refused.values()))
    prog: list[tuple[int, int, int, int]] = [
        (BPF_LD_W_ABS, 0, 0, ARCH_OFFSET),
        (BPF_JEQ_K, 1, 0, arch.audit),  # another architecture's call table: refused
        (BPF_RET_K, 0, 0, deny),
        (BPF_LD_W_ABS, 0, 0, NR_OFFSET),
    ]
    if arch.x32:
        prog.append((BPF_JGE_K, len(calls) + 1, 0, 0x40000000))  # x32 ABI: to the deny
    for i, nr in enumerate(calls):
        prog.append((BPF_JEQ_K, len(calls) - i, 0, nr))  # to the deny below
    prog.append((BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    prog.append((BPF_RET_K, 0, 0, deny))
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


def install_network_filter(libc: ctypes.CDLL, machine: str | None = None) -> None:
    """Install `network_filter` for this machine on every thread of this process."""
    arch = ARCHES.get(machine or platform.machine())
    if arch is None:
        raise OSError(0, f"no seccomp filter for the {machine or platform.machine()} architecture")
    code = network_filter(arch)
    filters = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(len(code) // 8, ctypes.addressof(filters))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(errno)}")
    libc.syscall.restype = ctypes.c_long
    done = libc.syscall(
        ctypes.c_long(arch.seccomp_nr),
        ctypes.c_long(SECCOMP_SET_MODE_FILTER),
        ctypes.c_long(SECCOMP_FILTER_FLAG_TSYNC),
        ctypes.byref(prog),
    )
    if done != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"seccomp(SECCOMP_SET_MODE_FILTER) failed: {os.strerror(errno)}")
