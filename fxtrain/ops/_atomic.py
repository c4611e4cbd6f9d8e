"""Atomic int64 loads and adds on numpy arrays, and a bounded spin-wait, for the tile
runner's hand-off (:mod:`._threads`).

Written as LLVM IR (numba intrinsics) because numba has no CPU atomics: a plain load in
a compiled loop may be hoisted out of it and never see another thread's store. The
loads are ``acquire``, the adds ``seq_cst`` read-modify-writes; :func:`spin_while`
pauses between polls (``llvm.x86.sse2.pause`` on x86, nothing elsewhere) and runs
without the GIL.
"""
from __future__ import annotations

import platform

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def _slot(context, builder, aryty, ary, index):
    return builder.gep(context.make_array(aryty)(context, builder, ary).data, [index])


@intrinsic
def atomic_load(typingctx, arr, i):
    """``arr[i]`` (int64 1-D) read with acquire ordering."""
    sig = types.int64(arr, types.intp)

    def codegen(context, builder, sig, args):
        return builder.load_atomic(_slot(context, builder, sig.args[0], args[0], args[1]),
                                   "acquire", 8)

    return sig, codegen


@intrinsic
def atomic_add(typingctx, arr, i, v):
    """``arr[i] += v`` (int64 1-D) as one sequentially consistent read-modify-write;
    returns the value before the add."""
    sig = types.int64(arr, types.intp, types.int64)

    def codegen(context, builder, sig, args):
        ptr = _slot(context, builder, sig.args[0], args[0], args[1])
        return builder.atomic_rmw("add", ptr, args[2], "seq_cst")

    return sig, codegen


@intrinsic
def _pause(typingctx):
    sig = types.void()

    def codegen(context, builder, sig, args):
        if _X86:
            fn = builder.module.declare_intrinsic("llvm.x86.sse2.pause",
                                                  fnty=ir.FunctionType(ir.VoidType(), []))
            builder.call(fn, [])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True)
def spin_while(state, i, value, iters):
    """Poll ``state[i]`` while it equals ``value``, at most ``iters`` times; returns the
    last value read (``value`` itself when the spin ran out)."""
    v = atomic_load(state, i)
    for _ in range(iters):
        if v != value:
            return v
        _pause()
        v = atomic_load(state, i)
    return v


@njit(cache=True, nogil=True)
def add(state, i, v):
    """:func:`atomic_add` callable from Python: ``state[i] += v``, returns the old value."""
    return atomic_add(state, i, v)
