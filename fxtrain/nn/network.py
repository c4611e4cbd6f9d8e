"""The sequential network: integer (bit-exact) and float64 engines over one layer list.

One training step on a batch (``train_step``): FP of the whole batch, the loss gradient,
BP, and per on-chip group the weight gradient ``G_g`` (its own requantization), then the
update. Weights do not change inside a batch, so FP and BP of all groups run as one
batch; only the weight gradients are computed and requantized group by group, exactly as
``groups`` separate on-chip passes would produce them.

Stochastic rounding keys, with ``K(li, role) = sr_key(seed, step mod 2**32, li, role)``,
``li`` the layer's position in the full layer list and ``step`` the number of steps done:

=================================  ===============================================
tensor                             key (element index i: row-major in the tensor)
=================================  ===============================================
forward output of layer li         K(li, "activation"), over the whole batch
backward output of layer li        K(li, "local_gradient"), over the whole batch
weight gradient of group g         K(li, "weight_gradient") + g * size
momentum accumulate of group g     K(li, "momentum") + g * size
weight update                      K(li, "update")
momentum decay                     K(li, "momentum") + groups * size
=================================  ===============================================

(all key sums mod 2**32). The groups continue the element index of one stacked
[groups, ...] tensor and the decay is the slice after the last group, so an accelerator
processing groups in any order reproduces every word.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import ops
from ..numerics import dequantize, quantize, requantize, sr_key
from . import float_ops as F
from .layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU, init_weight
from .losses import check_labels
from .plan import bind, calibrated
from .recipe import Plan, Recipe, TensorSpec
from .update import float_update, int_update, lr_constants

_M32 = 0xFFFFFFFF


class Network:
    """A sequential CNN trained in fixed point (or float64) by one :class:`Recipe`.

    Public state: ``layers``, ``recipe``, ``plan`` (every tensor's spec), ``params``
    (``{name}.weight`` [O, C, K, K] or [out, in], ``{name}.momentum``), ``step``.
    """

    def __init__(self, layers: list, recipe: Recipe, input_shape: tuple[int, int, int],
                 seed: int = 0, name: str = "net"):
        self.name = name
        self.layers = list(layers)
        self.input_shape = tuple(int(v) for v in input_shape)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= _M32:
            raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
        self.seed = int(seed)
        names = [L.name for L in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"layer names must be unique, got {names}")
        self.shapes = [self.input_shape]
        for L in self.layers:
            self.shapes.append(L.out_shape(self.shapes[-1]))
        if len(self.shapes[-1]) != 1:
            raise ValueError(f"the last layer must output a vector, got shape {self.shapes[-1]}")
        self.num_classes = self.shapes[-1][0]
        if self.num_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, the last layer outputs "
                             f"{self.num_classes}")
        rng = np.random.default_rng(self.seed)
        w_float = {L.name: init_weight(L, rng) for L in self.layers if L.weighted}
        if recipe.frac_rule == "calibrated" and not recipe.fracs:
            recipe = calibrated(recipe, self._calibration_stats(recipe, w_float))
        self.recipe = recipe
        self.plan: Plan = bind(recipe, self.layers)
        self.params: dict[str, np.ndarray] = {}
        for L in self.weighted_layers:
            lp = self.plan[L.name]
            wq = quantize(w_float[L.name], lp.weight.fmt, "half_even", "saturate")
            if self.float64:
                self.params[f"{L.name}.weight"] = dequantize(wq, lp.weight.fmt)
                self.params[f"{L.name}.momentum"] = np.zeros(L.weight_shape)
            else:
                self.params[f"{L.name}.weight"] = wq
                self.params[f"{L.name}.momentum"] = np.zeros(L.weight_shape, lp.momentum.fmt.dtype)
        self.step = 0
        #: overflow counts of the last step: ``{layer}.{role}`` for requantized tensors and
        #: ``{layer}.accumulator_{phase}`` for sums that did not fit their accumulator
        self.overflows: dict[str, int] = {}

    # ------------------------------------------------------------------ properties
    @property
    def float64(self) -> bool:
        return self.recipe.float64

    @property
    def weight_words(self) -> int:
        """Number of weight words (all weighted layers)."""
        return sum(int(np.prod(L.weight_shape)) for L in self.weighted_layers)

    @property
    def weighted_layers(self) -> list:
        return [L for L in self.layers if L.weighted]

    def describe(self) -> dict:
        """Plain-JSON description of the network and its numerics (layers, plan,
        hyper-parameters, seed): everything the oracle or an RTL flow needs besides
        the parameters, with no fxtrain types in it."""
        layers = []
        for L in self.layers:
            d = {"type": type(L).__name__, **{k: v for k, v in vars(L).items()}}
            layers.append(d)
        r = self.recipe
        return {"name": self.name, "input_shape": list(self.input_shape), "seed": self.seed,
                "step": self.step, "layers": layers, "plan": self.plan.to_json(),
                "hyper": {"lr": r.lr, "lr_start": r.lr_start, "momentum": r.momentum,
                          "batch": r.batch, "groups": r.groups}}

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter plus ``step`` (a 0-d int64 array)."""
        d = {k: v.copy() for k, v in self.params.items()}
        d["step"] = np.array(self.step, dtype=np.int64)
        return d

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        """Load parameters saved by :meth:`state_dict`; names, shapes and dtypes must match."""
        missing = set(self.params) - set(d)
        extra = set(d) - set(self.params) - {"step"}
        if missing or extra:
            raise ValueError(f"state dict mismatch: missing {sorted(missing)}, unexpected {sorted(extra)}")
        for k, v in self.params.items():
            a = np.asarray(d[k])
            if a.shape != v.shape:
                raise ValueError(f"{k}: shape {a.shape} does not match the network's {v.shape}")
            if a.dtype != v.dtype:
                raise ValueError(f"{k}: dtype {a.dtype} does not match the network's {v.dtype}")
        for k in self.params:
            self.params[k] = np.array(d[k], copy=True)
        if "step" in d:
            self.step = int(d["step"])

    # ------------------------------------------------------------------ inputs
    def quantize_input(self, x_float: np.ndarray) -> np.ndarray:
        """Images as floats (e.g. fxtrain.data.to_unit_float) -> the input format (or float64)."""
        x = np.asarray(x_float, dtype=np.float64)
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"input shape {x.shape[1:]} does not match the network's {self.input_shape}")
        if self.float64:
            return x
        s = self.plan.input
        return quantize(x, s.fmt, s.rounding, s.overflow)

    def _check_input(self, x):
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1:] != self.input_shape:
            raise ValueError(f"input batch shape {x.shape} does not match [N, {self.input_shape}]")
        if x.shape[0] == 0:
            raise ValueError("empty batch: at least one image is needed")
        if self.float64:
            return x.astype(np.float64)
        if x.dtype != self.plan.input.fmt.dtype:
            raise TypeError(f"fixed-point input must be {self.plan.input.fmt.dtype} in "
                            f"{self.plan.input.fmt}, got {x.dtype}; use net.quantize_input()")
        return x

    # ------------------------------------------------------------------ keys
    def _key(self, layer_index: int, role: str) -> int:
        return sr_key(self.seed, self.step & _M32, layer_index, role)

    def _count(self, tag: str, n: int) -> None:
        if n:
            self.overflows[tag] = self.overflows.get(tag, 0) + int(n)

    def _acc(self, op, layer, phase: str, *args, **kw):
        """``op(*args, **kw)``: exact sums wrapped to the plan's width for ``layer`` and
        ``phase``; elements whose sum did not fit are counted as
        ``{layer}.accumulator_{phase}``."""
        acc, n = op(*args, acc_bits=self.plan.acc(layer.name, phase), stats=True, **kw)
        self._count(f"{layer.name}.accumulator_{phase}", n)
        return acc

    def _requant(self, acc, f_src, spec: TensorSpec, li: int, role: str, tag: str, offset: int = 0):
        key = None
        if spec.rounding == "stochastic":
            key = (self._key(li, role) + offset) & _M32
        y, n = requantize(acc, f_src, spec.fmt, spec.rounding, spec.overflow, key=key, stats=True)
        self._count(tag, n)
        return y

    # ------------------------------------------------------------------ forward
    def forward(self, x, record: list | None = None):
        """Logits of a batch: int array in the logits' format (or float64 in float mode).

        ``record`` (a list) receives one dict per layer with what BP, WU and vector
        bundles need (its input, mask, argmax, pre-activation).
        """
        return self._forward(x, record, keep_acc=True)

    def _conv_requant(self, op, L, phase: str, acc_args, f_src, spec: TensorSpec, li: int,
                      role: str, tag: str, out=None, **kw):
        """``op`` (ops.conv2d_fp_requant, conv2d_bp_requant or their ReLU-fused forms): the
        same words and overflow counts as ``_requant(_acc(...))`` (then the ReLU), without
        the int64 accumulators. Returns the op's arrays (one, or (y, mask))."""
        key = (self._key(li, role) if spec.rounding == "stochastic" else None)
        *arrays, n, n_acc = op(*acc_args, f_src, spec.fmt, spec.rounding, spec.overflow, key=key,
                               stride=L.stride, pad=L.pad, acc_bits=self.plan.acc(L.name, phase),
                               out=out, acc_stats=True, **kw)
        self._count(f"{L.name}.accumulator_{phase}", n_acc)
        self._count(tag, n)
        return arrays[0] if len(arrays) == 1 else tuple(arrays)

    def _buf(self, reuse: bool, key: tuple, shape: tuple, dtype):
        """A step-local result buffer kept across training steps (``reuse``: the step keeps
        no record, so nothing outlives it), or None (the op allocates). Fresh pages cost
        a page fault each on first touch; reusing them saves ~1000 faults per cnn1x step."""
        if not reuse:
            return None
        bufs = self.__dict__.setdefault("_scratch", {})
        b = bufs.get(key)
        if b is None or b.shape != shape or b.dtype != dtype:
            b = bufs[key] = np.empty(shape, dtype)
        return b

    def _forward(self, x, record: list | None, keep_acc: bool):
        a = self._check_input(x)
        reuse = not keep_acc
        f = self.plan.input.f
        relu_done = None  # (y, mask) of a ReLU applied in the conv before it
        # per-channel ranges of ``a`` from the kernel that produced it (kept through ReLU
        # and pooling, which stay inside them): the next conv skips its pass over ``a``
        bounds = None
        for li, L in enumerate(self.layers):
            rec = {"layer": L.name, "input": a, "f_in": f}
            if isinstance(L, (Conv2d, Linear)):
                W = self.params[f"{L.name}.weight"]
                if self.float64:
                    a = F.conv2d_fp(a, W, L.stride, L.pad) if isinstance(L, Conv2d) else a @ W.T
                elif isinstance(L, Conv2d) and not keep_acc:
                    lp = self.plan[L.name]
                    shape = (a.shape[0],) + self.shapes[li + 1]
                    out = self._buf(reuse, (L.name, "fp"), shape, lp.activation.fmt.dtype)
                    nxt = self.layers[li + 1] if li + 1 < len(self.layers) else None
                    bounds = {} if bounds is None else {"in": bounds}
                    if isinstance(nxt, ReLU):  # the ReLU in the conv's epilogue
                        out = out if out is None else (out, self._buf(reuse, (nxt.name, "mask"), shape,
                                                                      np.uint8))
                        relu_done = self._conv_requant(
                            ops.conv2d_fp_requant_relu, L, "fp", (a, W), f + lp.weight.f,
                            lp.activation, li, "activation", f"{L.name}.activation", out,
                            rule=self.plan.relu_rule, _bounds=bounds)
                        a = relu_done[0]
                    else:
                        a = self._conv_requant(ops.conv2d_fp_requant, L, "fp", (a, W), f + lp.weight.f,
                                               lp.activation, li, "activation",
                                               f"{L.name}.activation", out, _bounds=bounds)
                    bounds = bounds.get("out")
                    f = lp.activation.f
                else:
                    bounds = None
                    acc = (self._acc(ops.conv2d_fp, L, "fp", a, W, L.stride, L.pad)
                           if isinstance(L, Conv2d) else self._acc(ops.linear_fp, L, "fp", a, W))
                    lp = self.plan[L.name]
                    rec["acc"] = acc
                    a = self._requant(acc, f + lp.weight.f, lp.activation, li, "activation",
                                      f"{L.name}.activation")
                    f = lp.activation.f
            elif isinstance(L, ReLU):
                if relu_done is not None:
                    a, rec["mask"] = relu_done
                    relu_done = None
                elif self.float64:
                    mask = (a >= 0) if self.plan.relu_rule == "ge" else (a > 0)
                    rec["mask"], a = mask, a * mask
                else:
                    out = self._buf(reuse, (L.name, "fp"), a.shape, a.dtype)
                    out = out if out is None else (out, self._buf(reuse, (L.name, "mask"), a.shape, np.uint8))
                    a, rec["mask"] = ops.relu_fp(a, self.plan.relu_rule, out=out)
            elif isinstance(L, MaxPool2d):
                if self.float64:
                    a, rec["argmax"] = F.maxpool_fp(a, L.k)
                else:
                    shape = (a.shape[0],) + self.shapes[li + 1]
                    out = self._buf(reuse, (L.name, "fp"), shape, a.dtype)
                    out = out if out is None else (out, self._buf(reuse, (L.name, "argmax"), shape, np.uint8))
                    a, rec["argmax"] = ops.maxpool_fp(a, L.k, out=out)
            elif isinstance(L, Flatten):
                a = a.reshape(a.shape[0], -1)
                bounds = None
            else:  # pragma: no cover - layer list is validated by out_shape
                raise TypeError(f"unknown layer {L!r}")
            rec["output"], rec["f_out"] = a, f
            if record is not None:
                record.append(rec)
        return a

    @property
    def logits_f(self) -> int:
        return self.plan[self.weighted_layers[-1].name].activation.f

    # ------------------------------------------------------------------ training
    def loss_grad(self, z, labels):
        """(gradient in the logits' format, float loss value summed over the batch)."""
        from .losses import loss_and_grad

        return loss_and_grad(self.plan.loss, z, labels, self.num_classes,
                             None if self.float64 else self.plan[self.weighted_layers[-1].name].activation)

    def train_step(self, x, labels, record: dict | None = None, gradients: dict | None = None) -> dict:
        """FP, BP and WU of one batch (``recipe.batch`` images); returns metrics.

        ``record`` (a dict), if given, receives every intermediate tensor for golden vectors:
        ``forward`` (per-layer dicts), ``loss_grad``, ``backward`` (per-layer local
        gradients), ``weight_gradients`` ({layer: [G_g ...]}), ``constants``; keeping them
        all costs the fused fast path. ``gradients`` (a dict) receives only the weight
        gradients ({layer: [G_g ...]}, fresh arrays) and keeps the fast path (CGaP's saliency).

        Besides ``loss``, ``correct``, ``n`` and ``overflows`` the metrics hold
        ``zero_updates``: the weight words this step left unchanged, out of
        ``weight_words``. In fixed point an update rounds to zero wherever the weight
        gradient, the momentum accumulate or ``round(s_q * V)`` falls below half an LSB;
        float64 leaves only weights whose gradient is exactly zero (e.g. behind dead ReLUs).
        """
        x = self._check_input(x)
        n = x.shape[0]
        if n != self.recipe.batch:
            raise ValueError(f"batch of {n} images, but the recipe's batch is {self.recipe.batch}")
        labels = check_labels(labels, self.num_classes, n)
        self.overflows = {}
        fwd: list = []
        z = self._forward(x, fwd, keep_acc=record is not None)
        e, loss = self.loss_grad(z, labels)
        correct = int(np.sum(np.argmax(z, axis=1) == labels))
        grads, back = self._backward(e, fwd, reuse=record is None)
        consts = self._update(grads)
        if record is not None:
            record.update(forward=fwd, logits=z, loss_grad=e, backward=back,
                          weight_gradients=grads, constants=consts)
        if gradients is not None:
            gradients.update(grads)
        self.step += 1
        return {"loss": loss / n, "correct": correct, "n": n, "overflows": dict(self.overflows),
                "zero_updates": self.zero_updates, "weight_words": self.weight_words}

    def _backward(self, e, fwd, reuse: bool = False):
        groups = self.recipe.groups
        gs = self.recipe.group_size
        first_w = min(i for i, L in enumerate(self.layers) if L.weighted)
        fe = None if self.float64 else self.logits_f
        grads: dict[str, list] = {}
        back: dict[str, np.ndarray] = {}
        mask_done = None  # a ReLU whose BP the conv after it applied
        bounds = None  # per-channel ranges of ``e`` from the conv BP kernel that made it
        for li in range(len(self.layers) - 1, -1, -1):
            L, rec = self.layers[li], fwd[li]
            a_in = rec["input"]
            if isinstance(L, (Conv2d, Linear)):
                W = self.params[f"{L.name}.weight"]
                conv = isinstance(L, Conv2d)
                G = []
                # every group's conv sums in one call (one hand-off to the workers)
                accs = (self._acc(ops.conv2d_wu, L, "wu", e, a_in, L.k, L.stride, L.pad,
                                  groups=groups).reshape((groups,) + L.weight_shape)
                        if conv and not self.float64 else None)
                for g in range(groups):
                    sl = slice(g * gs, (g + 1) * gs)
                    if self.float64:
                        G.append(F.conv2d_wu(e[sl], a_in[sl], L.k, L.stride, L.pad) if conv
                                 else e[sl].T @ a_in[sl])
                    else:
                        lp = self.plan[L.name]
                        acc = accs[g] if conv else self._acc(ops.linear_wu, L, "wu", e[sl], a_in[sl])
                        G.append(self._requant(acc, fe + rec["f_in"], lp.weight_gradient, li,
                                               "weight_gradient", f"{L.name}.weight_gradient",
                                               offset=g * acc.size))
                grads[L.name] = G
                if li > first_w:
                    if self.float64:
                        e = F.conv2d_bp(e, W, a_in.shape[2:], L.stride, L.pad) if conv else e @ W
                    elif conv:
                        lp = self.plan[L.name]
                        out = self._buf(reuse, (L.name, "bp"), a_in.shape, lp.local_gradient.fmt.dtype)
                        prev = self.layers[li - 1]
                        args, op = (e, W, a_in.shape[2:]), ops.conv2d_bp_requant
                        if isinstance(prev, ReLU) and reuse:  # no record: the ReLU's BP in the epilogue
                            args, op = args + (fwd[li - 1]["mask"],), ops.conv2d_bp_requant_mask
                            mask_done = prev.name
                        bounds = {} if bounds is None or not reuse else {"in": bounds}
                        e = self._conv_requant(op, L, "bp", args, fe + lp.weight.f, lp.local_gradient,
                                               li, "local_gradient", f"{L.name}.local_gradient", out,
                                               _bounds=bounds)
                        bounds = bounds.get("out")
                        fe = lp.local_gradient.f
                    else:
                        bounds = None
                        lp = self.plan[L.name]
                        acc = (self._acc(ops.conv2d_bp, L, "bp", e, W, a_in.shape[2:], L.stride, L.pad)
                               if conv else self._acc(ops.linear_bp, L, "bp", e, W))
                        e = self._requant(acc, fe + lp.weight.f, lp.local_gradient, li,
                                          "local_gradient", f"{L.name}.local_gradient")
                        fe = lp.local_gradient.f
                    back[L.name] = e
            elif li > first_w:
                if isinstance(L, ReLU) and mask_done == L.name:
                    mask_done = None  # applied by the conv after it
                elif isinstance(L, ReLU):
                    e = (e * rec["mask"] if self.float64 else
                         ops.relu_bp(e, rec["mask"], out=self._buf(reuse, (L.name, "bp"), e.shape, e.dtype)))
                elif isinstance(L, MaxPool2d):
                    if self.float64:
                        e = F.maxpool_bp(e, rec["argmax"], a_in.shape[2:], L.k)
                    else:
                        out = self._buf(reuse, (L.name, "bp"), a_in.shape, e.dtype)
                        prev = self.layers[li - 1]
                        if reuse and isinstance(prev, ReLU) and li - 1 > first_w:
                            # no record: the BP of the ReLU before the pool in the same pass
                            e = ops.maxpool_bp_mask(e, rec["argmax"], a_in.shape[2:], L.k,
                                                    fwd[li - 1]["mask"], out=out)
                            mask_done = prev.name
                        else:
                            e = ops.maxpool_bp(e, rec["argmax"], a_in.shape[2:], L.k, out=out)
                elif isinstance(L, Flatten):
                    e = e.reshape(a_in.shape)
                    bounds = None
                back[L.name] = e
        return grads, back

    def _update(self, grads) -> dict:
        consts = {}
        self.zero_updates = 0
        for li, L in enumerate(self.layers):
            if not L.weighted:
                continue
            wk, vk = f"{L.name}.weight", f"{L.name}.momentum"
            w_before = self.params[wk]
            if self.float64:
                self.params[wk], self.params[vk] = float_update(
                    self.params[wk], self.params[vk], grads[L.name],
                    self.recipe.lr / self.recipe.batch, self.recipe.momentum)
                self.zero_updates += int(np.count_nonzero(self.params[wk] == w_before))
                continue
            lp = self.plan[L.name]
            c = lr_constants(self.recipe, self.plan, lp)
            consts[L.name] = c
            keys = {r: self._key(li, r) for r in ("momentum", "update")}
            W, V, nov = int_update(self.params[wk], self.params[vk], grads[L.name], lp, c, keys)
            self.params[wk], self.params[vk] = W, V
            for role, cnt in nov.items():
                self._count(f"{L.name}.{role}", cnt)
            self.zero_updates += int(np.count_nonzero(W == w_before))
        return consts

    # ------------------------------------------------------------------ calibration
    def _calibration_stats(self, recipe: Recipe, w_float) -> dict:
        """Max-abs of every tensor in one float64 step on the recipe's calibration batch."""
        if recipe.calibration is None:
            raise ValueError(f"recipe {recipe.name!r} needs a calibration batch: pass calib=(x, labels) "
                             "with x floats shaped [N, C, H, W]")
        x, y = recipe.calibration
        probe = Network.__new__(Network)
        probe.__dict__.update(self.__dict__)
        probe.recipe = replace(recipe, float64=True, frac_rule="sum-16", batch=len(x), groups=1,
                               calibration=None)
        probe.plan = bind(probe.recipe, self.layers)
        probe.params = {}
        for L in self.weighted_layers:
            probe.params[f"{L.name}.weight"] = w_float[L.name]
            probe.params[f"{L.name}.momentum"] = np.zeros(L.weight_shape)
        probe.overflows, probe.step = {}, 0
        fwd: list = []
        z = probe.forward(np.asarray(x, dtype=np.float64), fwd)
        e, _ = probe.loss_grad(z, np.asarray(y))
        grads, back = probe._backward(e, fwd)
        n = len(x)
        stats: dict = {"input": {"activation": float(np.abs(x).max())}}
        for li, L in enumerate(self.layers):
            if not L.weighted:
                continue
            stats[L.name] = {
                "weight": float(np.abs(w_float[L.name]).max()),
                "activation": float(np.abs(fwd[li]["output"]).max()),
                # per-group sums at the recipe's group size scale like n_group / n
                "weight_gradient": float(np.abs(grads[L.name][0]).max()) * recipe.group_size / n,
                # the first weighted layer propagates nothing; its (unused) entry takes the
                # loss gradient's magnitude (docs/training.md, "The sr16 plan")
                "local_gradient": float(np.abs(back.get(L.name, e)).max()),
            }
        return stats
