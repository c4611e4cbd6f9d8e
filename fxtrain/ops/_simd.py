"""Register-blocked int16 multiply-add microkernels, written as LLVM IR (numba intrinsics).

numba's auto-vectorizer keeps GEMM accumulators in memory and multiplies with 32-bit
lanes (``vpmulld``, 8 products per instruction). These kernels hold a 4 x 16 block of
int32 accumulators in vector registers and form products of int16 *pairs*: a
``<16 x i16>`` times ``<16 x i16>``, sign-extended, multiplied, and the even and odd
products added (``madd``), which x86 AVX2 lowers to one ``vpmaddwd`` (16 products). The IR
is target-independent; other targets get equivalent generic vector code.

Exactness: every product of two int16 fits int32 ((-2**15)**2 = 2**30), and every add is
a plain (wrapping) i32 add, so each accumulator holds its exact sum mod 2**32 whatever
the order (the only pair sum that exceeds int32, 2 * 2**30, wraps in vpmaddwd exactly as
in i32). :mod:`._direct` makes the sums exact outright by calling them only on chunks
certified to stay inside int32, and ``madd_axpy_store64`` / ``madd_axpy_add64`` store or
add their int32 sums sign-extended into int64.

The kernels take flat C-contiguous arrays and element offsets; the callers in
:mod:`._direct` own the layouts and guarantee that every index is in bounds.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

ROWS = 4    #: output rows (channels) per microkernel call
QBLK = 16   #: output positions per call in :func:`madd_axpy`; reduction step of :func:`madd_dot`

_I16, _I32, _I64 = ir.IntType(16), ir.IntType(32), ir.IntType(64)
_V16 = ir.VectorType(_I16, 16)
_V8 = ir.VectorType(_I32, 8)
_W16 = ir.VectorType(_I32, 16)
_EVEN = ir.Constant(ir.VectorType(_I32, 8), [2 * i for i in range(8)])
_ODD = ir.Constant(ir.VectorType(_I32, 8), [2 * i + 1 for i in range(8)])
_SPLAT = ir.Constant(ir.VectorType(_I32, 8), [0] * 8)
_ZERO8 = ir.Constant(_V8, [0] * 8)


def _c(v: int) -> ir.Constant:
    return ir.Constant(_I64, v)


def _ptr(context, builder, aryty, val):
    return context.make_array(aryty)(context, builder, val).data


def _madd(builder, x, y):
    """<16 x i16> x, y -> <8 x i32>: x[2i]*y[2i] + x[2i+1]*y[2i+1] mod 2**32 (vpmaddwd)."""
    p = builder.mul(builder.sext(x, _W16), builder.sext(y, _W16))
    return builder.add(builder.shuffle_vector(p, p, _EVEN), builder.shuffle_vector(p, p, _ODD))


def _load16(builder, base, off):
    return builder.load(builder.bitcast(builder.gep(base, [off]), _V16.as_pointer()), align=2)


_V8X64 = ir.VectorType(_I64, 8)


def _axpy_intrinsic(epilogue: str):
    """madd_axpy's codegen with one of three epilogues: ``store`` the int32 sums into an
    int32 ``out``; ``store64`` them sign-extended into an int64 ``out``; ``add64``: add
    them, sign-extended, to an int64 ``out`` (exact sums of chunks certified to fit int32)."""

    def typer(typingctx, w, wrow, wrow_stride, x, xbase, offs, nr, out, obase, orow_stride):
        sig = types.void(w, types.intp, types.intp, x, types.intp, offs, types.intp, out,
                         types.intp, types.intp)

        def codegen(context, builder, sig, args):
            wp = _ptr(context, builder, sig.args[0], args[0])
            xp = _ptr(context, builder, sig.args[3], args[3])
            op = _ptr(context, builder, sig.args[5], args[5])
            outp = _ptr(context, builder, sig.args[7], args[7])
            wrow, wst, xbase, nr, obase, ost = args[1], args[2], args[4], args[6], args[8], args[9]
            acc = [[cgutils.alloca_once_value(builder, _ZERO8) for _ in range(2)] for _ in range(ROWS)]
            wrows = [builder.gep(wp, [builder.add(wrow, builder.mul(wst, _c(k)))]) for k in range(ROWS)]
            xb = builder.gep(xp, [xbase])
            with cgutils.for_range(builder, nr) as loop:
                r = loop.index
                xr = builder.gep(xb, [builder.load(builder.gep(op, [r]))])
                xv = [_load16(builder, xr, _c(16 * h)) for h in range(2)]
                for k in range(ROWS):
                    wv = builder.load(builder.gep(wrows[k], [r]), align=4)
                    wv = builder.insert_element(ir.Constant(_V8, None), wv, ir.Constant(_I32, 0))
                    wv = builder.bitcast(builder.shuffle_vector(wv, wv, _SPLAT), _V16)
                    for h in range(2):
                        builder.store(builder.add(builder.load(acc[k][h]), _madd(builder, xv[h], wv)),
                                      acc[k][h])
            for k in range(ROWS):
                orow = builder.gep(outp, [builder.add(obase, builder.mul(ost, _c(k)))])
                for h in range(2):
                    v = builder.load(acc[k][h])
                    if epilogue == "store":
                        dst = builder.bitcast(builder.gep(orow, [_c(8 * h)]), _V8.as_pointer())
                    else:
                        dst = builder.bitcast(builder.gep(orow, [_c(8 * h)]), _V8X64.as_pointer())
                        v = builder.sext(v, _V8X64)
                        if epilogue == "add64":
                            v = builder.add(builder.load(dst, align=8), v)
                    builder.store(v, dst, align=4 if epilogue == "store" else 8)
            return context.get_dummy_value()

        return sig, codegen

    return typer


madd_axpy = intrinsic(_axpy_intrinsic("store"))
madd_axpy.__doc__ = """For k < 4, h < 2: ``out[obase + k*orow_stride + 8h : +8] = sum_{r < nr}
    madd(x[xbase + offs[r] + 16h : +16], splat(w[wrow + k*wrow_stride + r]))``.

    ``w`` int32 holds weight pairs (low half = even input channel, high = odd); ``x``
    int16 holds pair-interleaved activations, so each madd adds two channels' products
    for 8 output positions. Arrays: w int32 1-D, x int16 1-D, offs int64 1-D, out int32
    1-D; all offsets in elements. The sums wrap mod 2**32.
    """
#: :func:`madd_axpy` writing its int32 sums sign-extended into an int64 ``out``
madd_axpy_store64 = intrinsic(_axpy_intrinsic("store64"))
#: :func:`madd_axpy` adding its int32 sums, sign-extended, to an int64 ``out``
madd_axpy_add64 = intrinsic(_axpy_intrinsic("add64"))


@intrinsic
def madd_dot(typingctx, e, ebase, erow_stride, eimg_stride, a, abase0, abase1, aimg_stride,
             n_img, nblk, out, obase, orow_stride):
    """Eight dot products, 4 rows x 2 columns, summed over images and 16-element blocks:

    ``out[obase + k*orow_stride + j] += sum_{n < n_img, i < 16*nblk}
    e[ebase + k*erow_stride + n*eimg_stride + i] * a[abase_j + n*aimg_stride + i]``
    (k < 4, j < 2), all mod 2**32. ``e`` and ``a`` int16 1-D, ``out`` int32 1-D.
    """
    sig = types.void(e, types.intp, types.intp, types.intp, a, types.intp, types.intp,
                     types.intp, types.intp, types.intp, out, types.intp, types.intp)

    def codegen(context, builder, sig, args):
        ep = _ptr(context, builder, sig.args[0], args[0])
        ap = _ptr(context, builder, sig.args[4], args[4])
        outp = _ptr(context, builder, sig.args[10], args[10])
        ebase, est, eimg, abase0, abase1, aimg, n_img, nblk, obase, ost = (
            args[1], args[2], args[3], args[5], args[6], args[7], args[8], args[9], args[11],
            args[12])
        acc = [[cgutils.alloca_once_value(builder, _ZERO8) for _ in range(2)] for _ in range(ROWS)]
        with cgutils.for_range(builder, n_img) as img:
            n = img.index
            erows = [builder.gep(ep, [builder.add(builder.add(ebase, builder.mul(est, _c(k))),
                                                  builder.mul(n, eimg))]) for k in range(ROWS)]
            acols = [builder.gep(ap, [builder.add(b, builder.mul(n, aimg))]) for b in (abase0, abase1)]
            with cgutils.for_range(builder, nblk) as blk:
                i = builder.mul(blk.index, _c(QBLK))
                av = [_load16(builder, col, i) for col in acols]
                for k in range(ROWS):
                    ev = _load16(builder, erows[k], i)
                    for j in range(2):
                        builder.store(builder.add(builder.load(acc[k][j]), _madd(builder, ev, av[j])),
                                      acc[k][j])
        reduce_fn = builder.module.declare_intrinsic(
            "llvm.vector.reduce.add.v8i32", fnty=ir.FunctionType(_I32, [_V8]))
        for k in range(ROWS):
            orow = builder.gep(outp, [builder.add(obase, builder.mul(ost, _c(k)))])
            for j in range(2):
                dst = builder.gep(orow, [_c(j)])
                s = builder.call(reduce_fn, [builder.load(acc[k][j])])
                builder.store(builder.add(builder.load(dst), s), dst)
        return context.get_dummy_value()

    return sig, codegen
