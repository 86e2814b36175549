"""No leak over 1,000 load / generate / close cycles.

What is measured, in a child interpreter of its own, every 100 cycles:

- the C heap in use (glibc's mallinfo2: uordblks + hblkhd, summed over every
  arena): the bytes malloc has handed out and not had back.  This is the
  leak measure.  Between cycle 500 and 1000 it may grow by at most 256 KiB:
  a leaked stream (~70 KB) or even 0.5 KB a cycle fails it, while what
  Python itself keeps (caches of ctypes prototypes and the like, seen ~25
  bytes a cycle, reachable, valgrind: 0 bytes definitely lost) passes.
- the open descriptors and the mappings of the model's weights: after the
  last cycle there are as many descriptors as after cycle 100, and no
  mapping of the weights file is left (a leaked model keeps one).
- the resident set, as a coarse bound only (a leaked model costs ~17 MB of
  mapped weights a cycle): at most 8 MiB over 900 cycles.  Resident size is
  not the leak measure because it moves with the allocator's fragmentation:
  every model starts its own worker threads, and on a busy machine (CI runs
  tests in parallel) freed chunks come back in other places; CI once saw it
  grow 1.5 MiB between cycle 500 and 1000 with the heap in use flat.

glibc is held to two malloc arenas for the same reason.  (CTest runs this
file as its own test, python_binding_leak.)"""
import pytest

from conftest import MODEL, run_python

pytestmark = pytest.mark.leak

CHILD = f"""
import ctypes, gc, os, inference

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def heap():
    mi = libc.mallinfo2()
    return mi.uordblks + mi.hblkhd

def fds():
    return len(os.listdir("/proc/self/fd"))

def weight_maps():
    with open("/proc/self/maps") as f:
        return sum(1 for line in f if ".safetensors" in line)

def cycle():
    with inference.load({MODEL!r}, threads=1) as m:
        s = m.generate("The jury said", max_tokens=2, stop=["zz"], timeout=30)
        assert s.read() == "he was"
        m.chat([{{"role": "user", "content": "x"}}], max_tokens=1).read()
        m.tokenizer.encode("The jury")
        m.classify(["The jury said"])
        try:
            m.generate("x", temperature=-1)
        except inference.InvalidArgumentError:
            pass

for i in range(1, 1001):
    cycle()
    if i % 100 == 0:
        gc.collect()
        print(i, rss(), heap(), fds(), weight_maps(), flush=True)
"""


def test_heap_flat_over_1000_cycles():
    r = run_python(CHILD, timeout=580, MALLOC_ARENA_MAX="2")
    assert r.returncode == 0, r.stderr
    rows = {}
    for line in r.stdout.split("\n"):
        if line:
            i, rss, heap, fds, maps = map(int, line.split())
            rows[i] = {"rss": rss, "heap": heap, "fds": fds, "maps": maps}
    print("cycle  RSS MiB  heap in use KiB  fds  weight mappings")
    for i in sorted(rows):
        w = rows[i]
        print(f"{i:5d}  {w['rss'] / 2**20:7.2f}  {w['heap'] / 2**10:15.1f}  {w['fds']:3d}  {w['maps']}")
    late = rows[1000]["heap"] - rows[500]["heap"]
    print(f"heap growth over the last 500 cycles: {late} bytes ({late / 500:.1f} per cycle)")
    assert late < 256 * 2**10, f"heap in use grew {late} bytes over the last 500 cycles"
    assert rows[1000]["fds"] == rows[100]["fds"], "descriptors leaked"
    assert rows[1000]["maps"] == 0, "a mapping of the weights outlived its model"
    growth = rows[1000]["rss"] - rows[100]["rss"]
    assert growth < 8 * 2**20, f"resident set grew {growth} bytes over 900 cycles"
