"""The accelerator's program: the instruction format and the assembler.

One instruction is one layer-phase task (docs/accelerator.md, "Program format"): 41
fields of 32 bits, 1312 bits, written as one hex line per instruction (field 40 first, so
``$readmemh`` into ``reg [1311:0]`` puts field k at bits ``[32k +: 32]``). Fields 0..19
and 40 say what to do; fields 20..39 are products and quotients of them that the
assembler computes once, so the controller's address generators only add (no multiplier
or divider outside the MAC lanes).

=====  ==========  ============================================================
field  name        meaning
=====  ==========  ============================================================
0      op, flags   bits 7:0 opcode; 8 ReLU rule gt; 9 update saturates (else wraps);
                   10 requantization wraps (else saturates); 14:12 rounding code
                   (fxtrain.numerics ROUNDING_MODES order: 2 = half_up); 16, 17, 18
                   the XBUF, EBUF and weight loads are wide; 19 the vector unit runs
                   DW lanes; 20 the drain writes lines (FP/BP: of a row; WU: of a
                   filter's cyclic group) (the rules: hwgen.compiler.lines); 21 fused,
                   with the tensor at aux: CONV_FP runs the ReLU after the layer (y at
                   dst, its mask written at aux); POOL_Y writes its argmax at aux;
                   CONV_BP runs the ReLU before the layer (its gradient times the
                   mask read from aux, loaded into EBUF per image); 22 POOL_Y's
                   argmax carries the mask of the ReLU before it (loaded from src_b
                   into EBUF): 4, which UNPOOL never hits, where the mask at the
                   argmax is 0, so UNPOOL writes that ReLU's gradient
1      n_items     images (FP, BP, element-wise), groups (WU), or 1 (update)
2      count       elements per item of an element-wise op (ReLU, loss, update)
3..6   C, H, W, O  input channels and size, output channels (BP: the layer's own)
7, 8   K, pad      kernel (1 or 3), zero padding (stride is 1)
9      src_a       XBUF operand base (FP input, BP gradient, WU input, V, W)
10     src_b       EBUF operand base (WU gradient, mask, argmax, labels, G_g, V),
                   or the weights (FP, BP)
11     dst         result base
12, 13 x_len,      words loaded per item into XBUF / EBUF
       e_len
14     out_stride  result words per item
15     shift       requantization shift f_src - f_dst, 8-bit two's complement
16     acc_bits    accumulator width 16..64 (64: exact)
17     const       bits 15:0 the 16-bit constant (lr_q, s_q, m_q); 21:16 the update's
                   round-half-up shift s; 28:24 its exact left shift lb
18     gs          images per group (WU)
19     w_len       weight words loaded into the cyclic buffer (FP, BP)
20..39 derived     ``DERIVED`` in order: H*W, K*K, TC = ceil(C/POF),
                   ceil(C/NP)*H*W, ceil(O/POF)*H*W, (H/2)*(W/2), the tile counts
                   (filter tiles, y or channel tiles, x tiles), POY*W, HB*WB, POF*H*W,
                   POF*K*K, TC*POF*K*K, K*K*POF, K*POF, POF*K*K*POF, TC*POF*K*K*POF,
                   (NP div POF)*POF*K*K*POF, WB (NP = POX*POY, HB = ceil(H/POY),
                   WB = ceil(W/POX): the banked buffers' layouts, accel_core's header)
40     aux        a fused op's other tensor (bit 21), in the layout of dst
=====  ==========  ============================================================

Compatibility: the format is versioned by ``FORMAT_VERSION``; a field's meaning never
changes within a version.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from fxtrain.numerics.formats import ROUNDING_MODES

from .dram_map import Region, dram_map, first_weighted, layer_shapes
from .lines import wide_drain, wide_loads, wide_vector

FORMAT_VERSION = 4  # 3: fields 23, 24, 30, 39 describe the banked XBUF/EBUF layouts; 4: fusion, aux
INSTR_BITS = 1312
FIELDS = 41
#: the derived fields 20..39
DERIVED = ("hw", "kk", "tc", "cq_hw", "oq_hw", "hpwp", "tiles3", "tiles2", "tiles1", "poy_w", "hbwb",
           "pof_hw", "pof_kk", "tc_pof_kk", "kk_pof", "k_pof", "pof_kk_pof", "tc_pof_kk_pof",
           "npq_pof_kk_pof", "wb")

OPCODES = {"HALT": 0, "CONV_FP": 1, "CONV_BP": 2, "CONV_WU": 3, "RELU_Y": 4, "RELU_MASK": 5,
           "RELU_BP": 6, "POOL_Y": 7, "POOL_ARG": 8, "UNPOOL": 9, "LOSS": 10, "ACCUM": 11,
           "APPLY": 12, "DECAY": 13}
MAC_OPS = ("CONV_FP", "CONV_BP", "CONV_WU")
#: the shifts accel_core's fx_requant accepts (its SHIFT_MIN, SHIFT_MAX)
RQ_SHIFT_MIN, RQ_SHIFT_MAX = -16, 48


@dataclass
class Instr:
    """One instruction; ``label`` = (layer, phase) names it in reports (not encoded)."""

    op: str
    label: tuple[str, str] = ("", "")
    n_items: int = 1
    count: int = 0
    C: int = 0
    H: int = 0
    W: int = 0
    O: int = 0
    K: int = 0
    pad: int = 0
    src_a: int = 0
    src_b: int = 0
    dst: int = 0
    aux: int = 0
    fused: bool = False
    pool_mask: bool = False
    x_len: int = 0
    e_len: int = 0
    out_stride: int = 0
    shift: int = 0
    acc_bits: int = 64
    const: int = 0
    sgd_shift: int = 0
    sgd_align: int = 0
    gs: int = 0
    w_len: int = 0
    relu_gt: bool = False
    sgd_saturate: bool = False
    rq_wrap: bool = False
    rounding: str = "half_up"
    extra: dict = field(default_factory=dict)

    def derived(self, pox: int, poy: int, pof: int) -> list[int]:
        """Fields 20..39 for an array of POX x POY x POF lanes."""
        npix = pox * poy
        hw, kk = self.H * self.W, self.K * self.K
        tc = -(-self.C // pof) if self.C else 0
        if self.op == "CONV_WU":
            tiles = (-(-self.O // pof), -(-self.C // npix), self.K)
        elif self.op in ("CONV_FP", "CONV_BP"):
            F = self.C if self.op == "CONV_BP" else self.O
            tiles = (-(-F // pof), -(-self.H // poy), -(-self.W // pox))
        else:
            tiles = (0, 0, 0)
        wb = -(-self.W // pox)
        v = [hw, kk, tc, -(-self.C // npix) * hw, -(-self.O // pof) * hw, (self.H // 2) * (self.W // 2),
             *tiles, poy * self.W, -(-self.H // poy) * wb, pof * hw, pof * kk, tc * pof * kk, kk * pof,
             self.K * pof, pof * kk * pof, tc * pof * kk * pof, (npix // pof) * pof * kk * pof, wb]
        return v + [0] * (len(DERIVED) - len(v))

    def fields(self, lanes: tuple[int, int, int] = (1, 1, 1), dw: int = 1) -> list[int]:
        if not -128 <= self.shift <= 127:
            raise ValueError(f"{self.label}: requantization shift {self.shift} does not fit 8 bits")
        if not 0 <= self.sgd_shift < 64 or not 0 <= self.sgd_align < 32:
            raise ValueError(f"{self.label}: update shifts s={self.sgd_shift}, lb={self.sgd_align} "
                             "do not fit their 6 and 5 bits")
        wx, we, ww = wide_loads(self, *lanes, dw)
        wv = wide_vector(self, *lanes, dw)
        wd = wide_drain(self, *lanes, dw)
        flags = (OPCODES[self.op] | self.relu_gt << 8 | self.sgd_saturate << 9 | self.rq_wrap << 10
                 | ROUNDING_MODES.index(self.rounding) << 12 | wx << 16 | we << 17 | ww << 18 | wv << 19
                 | wd << 20 | self.fused << 21 | self.pool_mask << 22)
        f = [flags, self.n_items, self.count, self.C, self.H, self.W, self.O, self.K, self.pad,
             self.src_a, self.src_b, self.dst, self.x_len, self.e_len, self.out_stride,
             self.shift & 0xFF, self.acc_bits,
             (self.const & 0xFFFF) | self.sgd_shift << 16 | self.sgd_align << 24, self.gs, self.w_len]
        f += self.derived(*lanes) + [self.aux]
        for i, v in enumerate(f):
            if not 0 <= v < 1 << 32:
                raise ValueError(f"{self.label}: field {i} = {v} does not fit 32 bits")
        return f

    def hex(self, lanes: tuple[int, int, int] = (1, 1, 1), dw: int = 1) -> str:
        return "".join(f"{v:08x}" for v in reversed(self.fields(lanes, dw)))


def program_hex(prog: list[Instr], lanes: tuple[int, int, int], dw: int = 1) -> str:
    """The ``$readmemh`` text of a program for an array of ``lanes`` = (POX, POY, POF) and
    a DRAM port of ``dw`` words per line."""
    return "".join(i.hex(lanes, dw) + "\n" for i in prog)


def decode_line(line: str) -> list[int]:
    """The FIELDS (41) fields of one hex line (for tests and debugging)."""
    line = line.strip()
    if len(line) != INSTR_BITS // 4:
        raise ValueError(f"an instruction line has {INSTR_BITS // 4} hex digits, got {len(line)}")
    v = int(line, 16)
    return [(v >> (32 * k)) & 0xFFFFFFFF for k in range(FIELDS)]


def _size(shape) -> int:
    n = 1
    for v in shape:
        n *= v
    return n


def _update_shift(f_prod: int, f_res: int) -> tuple[int, int]:
    """(s, lb) of sgd_momentum for a product at fraction f_prod rounded to f_res."""
    d = f_prod - f_res
    return (d, 0) if d >= 0 else (0, -d)


def _spec_ok(spec: dict, what: str, roundings: tuple) -> None:
    if spec["rounding"] not in roundings:
        raise ValueError(f"{what}: rounding {spec['rounding']!r} is not built in the accelerator "
                         f"(supported: {', '.join(roundings)}); stochastic rounding is not yet")


def assemble(desc: dict, constants: dict, pof: int, steps: int = 1,
             fuse: bool = True) -> tuple[list[Instr], dict[str, Region]]:
    """The program of ``steps`` training steps of ``desc`` (a ``Network.describe()`` dict)
    and its DRAM map: the step's instructions once per step (step s reading its batch
    from ``act0@s``/``labels@s``), then HALT. With ``fuse`` (the default), a ReLU right
    after a convolution or linear layer runs in that layer's FP drain (CONV_FP writes y
    and the mask; no RELU_Y, RELU_MASK), a max-pool writes its argmax with its maxima
    (POOL_Y; no POOL_ARG), and a ReLU right before a convolution or linear layer takes its
    mask multiply in that layer's BP drain, or, before a max-pool, in the pool's argmax
    and so in its UNPOOL (no RELU_BP): the same words in DRAM, in fewer passes, except
    that such a pool's argmax is 4 where the ReLU's mask at it is 0. ``constants`` is
    {layer: {"lr_q", "s_q", "m_q", "lr_frac", "scale_frac"}}
    (fxtrain.nn.update.lr_constants; constant over the steps, as the engine's lr is)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    hyper = desc["hyper"]
    regions = dram_map(desc, pof, int(hyper["batch"]), int(hyper["groups"]), steps)
    prog: list[Instr] = []
    for s in range(steps):
        view = dict(regions)
        if s:
            view["act0"], view["labels"] = regions[f"act0@{s}"], regions[f"labels@{s}"]
        prog += _step(desc, constants, pof, view, fuse)
    prog.append(Instr("HALT", ("halt", "")))
    return prog, regions


def _relu_after(layers: list, i: int) -> bool:
    """Whether layer i is a convolution or linear layer followed by a ReLU, which its FP
    drain then runs (fusion)."""
    return (layers[i]["type"] in ("Conv2d", "Linear") and i + 1 < len(layers)
            and layers[i + 1]["type"] == "ReLU")


def _relu_before(layers: list, i: int, fw: int) -> bool:
    """Whether layer i follows a ReLU whose BP the step runs (it lies past the first
    weighted layer ``fw``), so layer i's BP drain (a convolution) or its pool's argmax
    (a max-pool) can take that ReLU's mask multiply (fusion)."""
    return i - 1 > fw and layers[i - 1]["type"] == "ReLU"


def _step(desc: dict, constants: dict, pof: int, regions: dict[str, Region], fuse: bool) -> list[Instr]:
    plan = desc["plan"]
    hyper = desc["hyper"]
    batch, groups = int(hyper["batch"]), int(hyper["groups"])
    if batch % groups:
        raise ValueError(f"batch {batch} is not a multiple of groups {groups}")
    gs = batch // groups
    if plan["loss"] != "squared_hinge":
        raise ValueError(f"loss {plan['loss']!r}: the accelerator builds the squared hinge only")
    if plan["optimizer"] != "fpl19":
        raise ValueError(f"optimizer {plan['optimizer']!r}: the accelerator builds fpl19 only")
    layers = desc["layers"]
    shapes = layer_shapes(desc)
    prog: list[Instr] = []
    rq_modes = tuple(m for m in ROUNDING_MODES if m != "stochastic")
    relu_gt = plan["relu_rule"] == "gt"

    def fmt_f(spec: dict) -> int:
        return int(spec["format"].split(".")[1])

    def lp(name: str) -> dict:
        return plan["layers"][name]

    def mac_dims(L: dict, shape_in: tuple) -> dict:
        if L["type"] == "Conv2d":
            if L["stride"] != 1 or (L["k"], L["pad"]) not in ((3, 1), (1, 0)):
                raise ValueError(f"{L['name']}: the accelerator builds 3x3 pad 1 and 1x1 pad 0 "
                                 f"convolutions of stride 1, got k={L['k']} stride={L['stride']} "
                                 f"pad={L['pad']}")
            return dict(C=L["in_ch"], H=shape_in[1], W=shape_in[2], O=L["out_ch"], K=L["k"], pad=L["pad"])
        return dict(C=L["in_f"], H=1, W=1, O=L["out_f"], K=1, pad=0)

    def requant(spec: dict, f_src: int, what: str) -> dict:
        _spec_ok(spec, what, rq_modes)
        shift = f_src - fmt_f(spec)
        if not RQ_SHIFT_MIN <= shift <= RQ_SHIFT_MAX:
            raise ValueError(f"{what}: requantization shift {shift} (fraction {f_src} to "
                             f"{fmt_f(spec)}) is outside the accelerator's {RQ_SHIFT_MIN}..{RQ_SHIFT_MAX}")
        return dict(shift=shift, rounding=spec["rounding"], rq_wrap=spec["overflow"] == "wrap")

    for i, L in enumerate(layers):
        t = L["type"]
        if t == "MaxPool2d" and (L["k"] != 2 or shapes[i][1] % 2 or shapes[i][2] % 2):
            raise ValueError(f"{L['name']}: the accelerator builds 2x2 max-pooling of even-sized "
                             f"maps, got k={L['k']} on {shapes[i][1]}x{shapes[i][2]}")
        if t not in ("Conv2d", "Linear", "ReLU", "MaxPool2d", "Flatten"):
            raise ValueError(f"layer type {t!r} is not built in the accelerator")
        if len(shapes[i]) not in (1, 3):
            raise ValueError(f"{L['name']}: unexpected input shape {shapes[i]}")
        for s in (shapes[i], shapes[i + 1]):
            if t in ("Conv2d", "Linear") and _size(s) <= 0:
                raise ValueError(f"{L['name']}: empty tensor")

    # ------------------------------------------------------------------ forward
    f = fmt_f(plan["input"])
    f_in: dict[int, int] = {}
    for i, L in enumerate(layers):
        name, t = L["name"], L["type"]
        f_in[i] = f
        src, dst = regions[f"act{i}"], regions[f"act{i + 1}"]
        size_in, size_out = _size(shapes[i]), _size(shapes[i + 1])
        if t in ("Conv2d", "Linear"):
            d = mac_dims(L, shapes[i])
            w = regions[f"{name}.weight"]
            spec = lp(name)["activation"]
            relu = fuse and _relu_after(layers, i)
            fused = dict(dst=regions[f"act{i + 2}"].base, aux=regions[f"mask{i + 1}"].base, fused=True,
                         relu_gt=relu_gt, extra={"fused": layers[i + 1]["name"]}) if relu else {}
            prog.append(Instr("CONV_FP", (name, "fp"), n_items=batch, src_a=src.base, src_b=w.base,
                              x_len=size_in, out_stride=size_out, w_len=w.words,
                              acc_bits=lp(name)["acc_bits"]["fp"],
                              **requant(spec, f + fmt_f(lp(name)["weight"]), f"{name} activation"), **d,
                              **({"dst": dst.base} | fused)))
            f = fmt_f(spec)
        elif t == "ReLU" and fuse and i and _relu_after(layers, i - 1):
            pass  # in the layer's FP drain
        elif t == "ReLU":
            common = dict(n_items=batch, count=size_in, src_a=src.base, x_len=size_in,
                          out_stride=size_in, relu_gt=relu_gt)
            prog.append(Instr("RELU_Y", (name, "fp"), dst=dst.base, **common))
            prog.append(Instr("RELU_MASK", (name, "fp"), dst=regions[f"mask{i}"].base, **common))
        elif t == "MaxPool2d":
            C, H, W = shapes[i]
            common = dict(n_items=batch, C=C, H=H, W=W, src_a=src.base, x_len=size_in,
                          out_stride=size_out)
            if fuse and _relu_before(layers, i, first_weighted(desc)):
                # the argmax keeps the ReLU's mask at it, so UNPOOL does the ReLU's BP too
                prog.append(Instr("POOL_Y", (name, "fp"), dst=dst.base, aux=regions[f"arg{i}"].base,
                                  fused=True, pool_mask=True, src_b=regions[f"mask{i - 1}"].base,
                                  e_len=size_in, extra={"mask_of": layers[i - 1]["name"]}, **common))
            elif fuse:
                prog.append(Instr("POOL_Y", (name, "fp"), dst=dst.base, aux=regions[f"arg{i}"].base,
                                  fused=True, **common))
            else:
                prog.append(Instr("POOL_Y", (name, "fp"), dst=dst.base, **common))
                prog.append(Instr("POOL_ARG", (name, "fp"), dst=regions[f"arg{i}"].base, **common))
    n = len(layers)
    weighted = [L["name"] for L in layers if L["type"] in ("Conv2d", "Linear")]
    logits_f = fmt_f(lp(weighted[-1])["activation"])
    k = shapes[n][0]
    prog.append(Instr("LOSS", ("loss", "bp"), n_items=batch, count=k, src_a=regions[f"act{n}"].base,
                      src_b=regions["labels"].base, dst=regions[f"grad{n}"].base, x_len=k, e_len=1,
                      out_stride=k))

    # ------------------------------------------------------------------ backward and update
    fw = first_weighted(desc)
    fe = logits_f
    fused_relu_bp = False  # the layer after this one runs this ReLU's mask multiply
    for i in range(n - 1, -1, -1):
        relu_done, fused_relu_bp = fused_relu_bp, False
        L = layers[i]
        name, t = L["name"], L["type"]
        size_in, size_out = _size(shapes[i]), _size(shapes[i + 1])
        if t in ("Conv2d", "Linear"):
            d = mac_dims(L, shapes[i])
            p = lp(name)
            w, v, g0 = (regions[f"{name}.{r}"] for r in ("weight", "momentum", "wgrad0"))
            c = constants[name]
            prog.append(Instr("CONV_WU", (name, "wu"), n_items=groups, gs=gs,
                              src_a=regions[f"act{i}"].base, src_b=regions[f"grad{i + 1}"].base,
                              dst=g0.base, x_len=gs * size_in, e_len=gs * size_out,
                              out_stride=g0.words, acc_bits=p["acc_bits"]["wu"],
                              **requant(p["weight_gradient"], fe + f_in[i], f"{name} weight_gradient"),
                              **d))
            mspec, uspec = p["momentum"], p["update"]
            _spec_ok(mspec, f"{name} momentum", ("half_up",))
            _spec_ok(uspec, f"{name} update", ("half_up",))
            for spec, what in ((mspec, "momentum"), (uspec, "update")):
                if int(spec["format"].split(".")[0][1:]) != 16:
                    raise ValueError(f"{name} {what}: the accelerator's words are 16 bits, got "
                                     f"{spec['format']}")
            f_g, f_v, f_w = fmt_f(p["weight_gradient"]), fmt_f(mspec), fmt_f(uspec)
            for g in range(groups):
                s, lb = _update_shift(f_g + c["lr_frac"], f_v)
                prog.append(Instr("ACCUM", (name, "update"), count=w.words,
                                  src_a=v.base, src_b=g0.base + g * g0.words, dst=v.base,
                                  x_len=w.words, e_len=w.words, const=c["lr_q"], sgd_shift=s,
                                  sgd_align=lb, sgd_saturate=mspec["overflow"] == "saturate",
                                  extra={"group": g}))
            if i > fw:
                relu = fuse and _relu_before(layers, i, fw)
                masked = dict(dst=regions[f"grad{i - 1}"].base, aux=regions[f"mask{i - 1}"].base,
                              e_len=size_in, fused=True, extra={"fused": layers[i - 1]["name"]}) if relu else {}
                prog.append(Instr("CONV_BP", (name, "bp"), n_items=batch,
                                  src_a=regions[f"grad{i + 1}"].base, src_b=w.base,
                                  x_len=size_out, out_stride=size_in,
                                  w_len=w.words, acc_bits=p["acc_bits"]["bp"],
                                  **requant(p["local_gradient"], fe + fmt_f(p["weight"]),
                                            f"{name} local_gradient"), **d,
                                  **({"dst": regions[f"grad{i}"].base} | masked)))
                fe = fmt_f(p["local_gradient"])
                fused_relu_bp = relu
            s, lb = _update_shift(f_v + c["scale_frac"], f_w)
            prog.append(Instr("APPLY", (name, "update"), count=w.words, src_a=w.base, src_b=v.base,
                              dst=w.base, x_len=w.words, e_len=w.words, const=c["s_q"], sgd_shift=s,
                              sgd_align=lb, sgd_saturate=uspec["overflow"] == "saturate"))
            s, lb = _update_shift(f_v + 16, f_v)
            prog.append(Instr("DECAY", (name, "update"), count=w.words, src_b=v.base, dst=v.base,
                              e_len=w.words, const=c["m_q"], sgd_shift=s, sgd_align=lb,
                              sgd_saturate=mspec["overflow"] == "saturate"))
        elif i > fw and t == "ReLU" and relu_done:
            pass  # in the next layer's BP drain
        elif i > fw and t == "ReLU":
            prog.append(Instr("RELU_BP", (name, "bp"), n_items=batch, count=size_in,
                              src_a=regions[f"grad{i + 1}"].base, src_b=regions[f"mask{i}"].base,
                              dst=regions[f"grad{i}"].base, x_len=size_in, e_len=size_in,
                              out_stride=size_in))
        elif i > fw and t == "MaxPool2d":
            C, H, W = shapes[i]
            masked = fuse and _relu_before(layers, i, fw)  # the POOL_Y above folded its mask
            prog.append(Instr("UNPOOL", (name, "bp"), n_items=batch, C=C, H=H, W=W,
                              src_a=regions[f"grad{i + 1}"].base, src_b=regions[f"arg{i}"].base,
                              dst=regions[f"grad{i - 1 if masked else i}"].base, x_len=size_out,
                              e_len=size_out, out_stride=size_in,
                              extra={"fused": layers[i - 1]["name"]} if masked else {}))
            fused_relu_bp = masked
    return prog
