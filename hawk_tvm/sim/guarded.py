"""Guarded arrays: host buffers placed against an inaccessible page, so an out-of-bounds access faults.

A candidate kernel that reads a few bytes before or after an operand passes a functional check on ordinary
heap arrays (the neighbouring bytes are mapped and the padded lanes are discarded), but crashes once the
operand sits at the edge of a mapping, as the tensors of a whole-model run often do (glibc serves large
allocations with their own mmap). The functional check runs candidates on arrays whose first byte follows a
PROT_NONE page (seed 0: underflow faults) or whose last byte precedes one (seed 1: overflow faults), so such a
kernel dies in the check worker instead of in `hawk run`. The bytes between an operand and a guard page that
alignment leaves mapped (up to 63 at the tail, the rest of the last page at the head) hold a canary pattern;
`overruns()` names the operands whose canary a kernel overwrote (a write just past the end: heap corruption in a
real run, no fault here).
"""

from __future__ import annotations

import ctypes
import mmap
from typing import Any

import numpy as np

PROT_NONE, PROT_RW = 0, mmap.PROT_READ | mmap.PROT_WRITE
ALIGN = 64  # TVM's storage alignment of tensor data
CANARY = 0xA5  # fills the mapped bytes around an operand that the guard pages cannot cover (alignment slack)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


class GuardedArrays:
    """Copies of `arrays` in guarded mappings (`edge` "head": data starts after a guard page; "tail": it ends
    before one, rounded to the 64-byte alignment). Use as a context manager; `.arrays` are numpy views."""

    def __init__(self, arrays: list[np.ndarray], edge: str = "head") -> None:
        if edge not in ("head", "tail"):
            raise ValueError(f"edge must be 'head' or 'tail', not {edge!r}")
        self.edge = edge
        self._maps: list[tuple[int, int]] = []
        self._slack: list[tuple[int, int, int]] = []  # (operand, address, length) of canary bytes
        self.arrays = [self._place(i, a) for i, a in enumerate(arrays)]

    def _place(self, index: int, arr: np.ndarray) -> np.ndarray:
        nbytes = arr.nbytes
        if nbytes == 0:
            return arr.copy()
        page = mmap.PAGESIZE
        body = -(-nbytes // page) * page
        size = body + 2 * page
        base = _libc.mmap(None, size, PROT_RW, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        if base in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap failed for a guarded array")
        self._maps.append((base, size))
        _libc.mprotect(base, page, PROT_NONE)
        _libc.mprotect(base + page + body, page, PROT_NONE)
        start = base + page
        if self.edge == "tail":
            start = base + page + body - (-(-nbytes // ALIGN) * ALIGN)
        end = base + page + body
        for lo, hi in ((base + page, start), (start + nbytes, end)):  # mapped bytes beside the data
            if hi > lo:
                ctypes.memset(lo, CANARY, hi - lo)
                self._slack.append((index, lo, hi - lo))
        raw = (ctypes.c_uint8 * nbytes).from_address(start)
        view = np.frombuffer(raw, dtype=np.uint8).view(arr.dtype).reshape(arr.shape)
        view[...] = arr
        return view

    def overruns(self) -> list[int]:
        """Operands whose canary bytes were overwritten (an out-of-bounds write the guard pages did not catch)."""
        hit = []
        for index, addr, length in self._slack:
            if index not in hit and any(b != CANARY for b in ctypes.string_at(addr, length)):
                hit.append(index)
        return hit

    def tensors(self) -> list[Any]:
        """Zero-copy TVM tensors over the guarded arrays."""
        import tvm

        return [tvm.runtime.from_dlpack(a) if a.nbytes else tvm.runtime.tensor(a) for a in self.arrays]

    def close(self) -> None:
        """Unmap every mapping (the views must not be used afterwards)."""
        self.arrays = []
        for base, size in self._maps:
            _libc.munmap(base, size)
        self._maps = []

    def __enter__(self) -> GuardedArrays:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
