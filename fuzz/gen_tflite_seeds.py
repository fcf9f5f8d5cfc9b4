#!/usr/bin/env python3
"""gen_tflite_seeds.py OUTDIR -- tiny valid .tflite models, the seeds of fuzz_tflite.

Each model is a few hundred bytes and uses operators, options and constant layouts
the reader and the graph builder handle (src/engine/tflite.h, graph.h): CONV_2D and
DEPTHWISE_CONV_2D with fused activations and SAME/VALID padding, MAX_POOL_2D, ADD,
PAD, PADV2, RESIZE_BILINEAR, DEPTH_TO_SPACE, CONCATENATION, RESHAPE (option and shape
tensor), LOGISTIC, fp16 constants behind DEQUANTIZE and a CSR-sparse constant behind
DENSIFY; and regress_* models, inputs that once found a bug.  The FlatBuffer is
written front to back by the small builder below (field ids: TFLite's schema.fbs, as
src/engine/tflite.c lists them).
"""
import os
import struct
import sys

F32, F16, I32 = 0, 1, 2
OP = dict(ADD=0, CONCATENATION=2, CONV_2D=3, DEPTHWISE_CONV_2D=4, DEPTH_TO_SPACE=5,
          DEQUANTIZE=6, LOGISTIC=14, MAX_POOL_2D=17, RESHAPE=22, RESIZE_BILINEAR=23,
          PAD=34, PADV2=60, DENSIFY=124)


class Table:
    """fields: list of (id, kind, value); kind u8 | i32 | u32 | u64 | ref."""

    def __init__(self, *fields):
        self.fields = [f for f in fields if f[2] is not None]


class Vec:
    """A vector of scalars (fmt: struct format of one element) or, with fmt None, of
    tables / other objects (offsets)."""

    def __init__(self, items, fmt=None):
        self.items, self.fmt = items, fmt


class Str:
    def __init__(self, s):
        self.b = s.encode()


SIZES = {"u8": 1, "i32": 4, "u32": 4, "u64": 8, "ref": 4}
FMTS = {"u8": "<B", "i32": "<i", "u32": "<I", "u64": "<Q"}


def build(root):
    out = bytearray(b"\0\0\0\0TFL3")
    pending = []  # (position of a u32 offset, object)

    def align(n=4):
        while len(out) % n:
            out.append(0)

    def emit(obj):
        align()
        if isinstance(obj, Table):
            n_ids = max((f[0] for f in obj.fields), default=-1) + 1
            layout, off = {}, 4
            for fid, kind, _ in sorted(obj.fields, key=lambda f: -SIZES[f[1]]):
                layout[fid] = off
                off += SIZES[kind]
            tsize = off
            vt = struct.pack("<HH", 4 + 2 * n_ids, tsize)
            for i in range(n_ids):
                vt += struct.pack("<H", layout.get(i, 0))
            vpos = len(out)
            out.extend(vt)
            align()
            tpos = len(out)
            out.extend(struct.pack("<i", tpos - vpos))
            out.extend(bytes(tsize - 4))
            for fid, kind, val in obj.fields:
                at = tpos + layout[fid]
                if kind == "ref":
                    pending.append((at, val))
                else:
                    out[at:at + SIZES[kind]] = struct.pack(FMTS[kind], val)
            return tpos
        if isinstance(obj, Str):
            pos = len(out)
            out.extend(struct.pack("<I", len(obj.b)) + obj.b + b"\0")
            return pos
        pos = len(out)
        out.extend(struct.pack("<I", len(obj.items)))
        if obj.fmt is None:
            for item in obj.items:
                pending.append((len(out), item))
                out.extend(b"\0\0\0\0")
        else:
            for item in obj.items:
                out.extend(struct.pack(obj.fmt, item))
        return pos

    def patch(at, obj):
        pos = emit(obj)
        out[at:at + 4] = struct.pack("<I", pos - at)

    pending.append((0, root))
    while pending:
        at, obj = pending.pop(0)
        patch(at, obj)
    return bytes(out)


def f32s(vals):
    return b"".join(struct.pack("<f", v) for v in vals)


def f16s(vals):
    return b"".join(struct.pack("<e", v) for v in vals)


def i32s(vals):
    return b"".join(struct.pack("<i", v) for v in vals)


class Model:
    def __init__(self):
        self.tensors, self.buffers, self.ops, self.codes = [], [Table()], [], []

    def tensor(self, name, shape, typ=F32, data=None, sparsity=None):
        buf = 0
        if data is not None:
            self.buffers.append(Table((0, "ref", Vec(list(data), "<B"))))
            buf = len(self.buffers) - 1
        self.tensors.append(Table((0, "ref", Vec(shape, "<i")), (1, "u8", typ),
                                  (2, "u32", buf), (3, "ref", Str(name)),
                                  (6, "ref", sparsity)))
        return len(self.tensors) - 1

    def op(self, code, inputs, outputs, opt_type=0, options=None):
        if code not in self.codes:
            self.codes.append(code)
        idx = self.codes.index(code)
        self.ops.append(Table((0, "u32", idx), (1, "ref", Vec(inputs, "<i")),
                              (2, "ref", Vec(outputs, "<i")),
                              (3, "u8", opt_type if options else None),
                              (4, "ref", options)))

    def bytes(self, inputs, outputs):
        codes = [Table((0, "u8", min(c, 127)), (3, "i32", c)) for c in self.codes]
        sg = Table((0, "ref", Vec(self.tensors)), (1, "ref", Vec(inputs, "<i")),
                   (2, "ref", Vec(outputs, "<i")), (3, "ref", Vec(self.ops)),
                   (4, "ref", Str("main")))
        model = Table((0, "u32", 3), (1, "ref", Vec(codes)), (2, "ref", Vec([sg])),
                      (4, "ref", Vec(self.buffers)))
        return build(model)


# BuiltinOptions union types (schema.fbs) of the options tables used.
CONV_OPT, DW_OPT, CONCAT_OPT, ADD_OPT, POOL_OPT, RESHAPE_OPT = 1, 2, 10, 11, 5, 17
RESIZE_OPT, D2S_OPT, PAD_OPT = 15, 19, 22


def conv_opts(padding, stride, act):
    return Table((0, "u8", padding), (1, "i32", stride), (2, "i32", stride), (3, "u8", act))


def model_conv_chain():
    """CONV_2D SAME relu6 -> DEPTHWISE VALID -> MAX_POOL -> RESHAPE -> LOGISTIC."""
    m = Model()
    x = m.tensor("input", [1, 4, 4, 2])
    w = m.tensor("conv/w", [3, 2, 2, 2], data=f32s([(i % 5) * 0.1 - 0.2 for i in range(24)]))
    b = m.tensor("conv/b", [3], data=f32s([0.1, -0.1, 0.0]))
    c = m.tensor("conv", [1, 4, 4, 3])
    m.op(OP["CONV_2D"], [x, w, b], [c], CONV_OPT, conv_opts(0, 1, 3))
    dw = m.tensor("dw/w", [1, 3, 3, 3], data=f32s([0.05 * (i % 7) for i in range(27)]))
    d = m.tensor("dw", [1, 2, 2, 3])
    m.op(OP["DEPTHWISE_CONV_2D"], [c, dw, -1], [d], DW_OPT,
         Table((0, "u8", 1), (1, "i32", 1), (2, "i32", 1), (3, "i32", 1), (4, "u8", 1)))
    p = m.tensor("pool", [1, 1, 1, 3])
    m.op(OP["MAX_POOL_2D"], [d], [p], POOL_OPT,
         Table((0, "u8", 1), (1, "i32", 2), (2, "i32", 2), (3, "i32", 2), (4, "i32", 2)))
    r = m.tensor("flat", [1, 3])
    m.op(OP["RESHAPE"], [p], [r], RESHAPE_OPT, Table((0, "ref", Vec([1, 3], "<i"))))
    y = m.tensor("prob", [1, 3])
    m.op(OP["LOGISTIC"], [r], [y])
    return m.bytes([x], [y, c])


def model_fp16_add():
    """fp16 filter -> DEQUANTIZE -> CONV_2D VALID stride 2 (no bias) ; ADD of two convs."""
    m = Model()
    x = m.tensor("input", [1, 5, 5, 1])
    wh = m.tensor("w16", [2, 3, 3, 1], F16, data=f16s([0.25 * ((i % 3) - 1) for i in range(18)]))
    w = m.tensor("w", [2, 3, 3, 1])
    m.op(OP["DEQUANTIZE"], [wh], [w])
    a = m.tensor("a", [1, 2, 2, 2])
    m.op(OP["CONV_2D"], [x, w], [a], CONV_OPT, conv_opts(1, 2, 1))
    bb = m.tensor("b", [1, 2, 2, 2])
    m.op(OP["CONV_2D"], [x, w], [bb], CONV_OPT, conv_opts(1, 2, 0))
    s = m.tensor("sum", [1, 2, 2, 2])
    m.op(OP["ADD"], [a, bb], [s], ADD_OPT, Table((0, "u8", 0)))
    return m.bytes([x], [s])


def model_sparse():
    """A CSR-sparse fp32 filter [2,1,1,3] (dims 0..2 dense, dim 3 sparse) -> DENSIFY."""
    m = Model()
    x = m.tensor("input", [1, 2, 2, 3])
    dims = [Table((0, "u8", 0), (1, "i32", 2)), Table((0, "u8", 0), (1, "i32", 1)),
            Table((0, "u8", 0), (1, "i32", 1)),
            Table((0, "u8", 1), (2, "u8", 3), (3, "ref", Table((0, "ref", Vec([0, 2, 3], "<B")))),
                  (4, "u8", 3), (5, "ref", Table((0, "ref", Vec([0, 2, 1], "<B")))))]
    sp = Table((0, "ref", Vec([0, 1, 2, 3], "<i")), (2, "ref", Vec(dims)))
    ws = m.tensor("w_sparse", [2, 1, 1, 3], data=f32s([0.5, -0.5, 1.0]), sparsity=sp)
    w = m.tensor("w", [2, 1, 1, 3])
    m.op(OP["DENSIFY"], [ws], [w])
    y = m.tensor("out", [1, 2, 2, 2])
    m.op(OP["CONV_2D"], [x, w], [y], CONV_OPT, conv_opts(1, 1, 0))
    return m.bytes([x], [y])


def model_shapes():
    """PAD, PADV2, RESIZE_BILINEAR, DEPTH_TO_SPACE, CONCATENATION, RESHAPE by tensor."""
    m = Model()
    x = m.tensor("input", [1, 2, 2, 4])
    pads = m.tensor("pads", [4, 2], I32, data=i32s([0, 0, 1, 1, 0, 1, 0, 0]))
    p = m.tensor("pad", [1, 4, 3, 4])
    m.op(OP["PAD"], [x, pads], [p], PAD_OPT, Table())
    val = m.tensor("pad_value", [1], data=f32s([-1.0]))
    pads2 = m.tensor("pads2", [4, 2], I32, data=i32s([0, 0, 0, 0, 1, 0, 0, 0]))
    p2 = m.tensor("pad2", [1, 4, 4, 4])
    m.op(OP["PADV2"], [p, pads2, val], [p2])
    size = m.tensor("size", [2], I32, data=i32s([2, 2]))
    r = m.tensor("resize", [1, 2, 2, 4])
    m.op(OP["RESIZE_BILINEAR"], [p2, size], [r], RESIZE_OPT,
         Table((2, "u8", 0), (3, "u8", 1)))
    d = m.tensor("d2s", [1, 4, 4, 1])
    m.op(OP["DEPTH_TO_SPACE"], [r, ], [d], D2S_OPT, Table((0, "i32", 2)))
    d2 = m.tensor("d2s_x", [1, 4, 4, 1])
    m.op(OP["DEPTH_TO_SPACE"], [x], [d2], D2S_OPT, Table((0, "i32", 2)))
    c = m.tensor("concat", [1, 4, 4, 2])
    m.op(OP["CONCATENATION"], [d, d2], [c], CONCAT_OPT, Table((0, "i32", -1), (1, "u8", 0)))
    shape = m.tensor("shape", [2], I32, data=i32s([1, -1]))
    y = m.tensor("flat", [1, 32])
    m.op(OP["RESHAPE"], [c, shape], [y])
    return m.bytes([x], [y, r])


def model_pool_window():
    """MAX_POOL_2D SAME with a 2^18 x 2^18 window on a 2x2 input: 2.7e11 comparisons,
    which the graph's work limit refuses (found by fuzz_tflite as an input that ran for
    seconds: pooling work was not counted)."""
    m = Model()
    x = m.tensor("input", [1, 2, 2, 1])
    y = m.tensor("pool", [1, 2, 2, 1])
    m.op(OP["MAX_POOL_2D"], [x], [y], POOL_OPT,
         Table((0, "u8", 0), (1, "i32", 1), (2, "i32", 1), (3, "i32", 1 << 18),
               (4, "i32", 1 << 18)))
    return m.bytes([x], [y])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__),
                                                             "corpus", "tflite")
    os.makedirs(out, exist_ok=True)
    for name, fn in [("conv_chain", model_conv_chain), ("fp16_add", model_fp16_add),
                     ("sparse_densify", model_sparse), ("shapes", model_shapes),
                     ("regress_pool_window", model_pool_window)]:
        with open(os.path.join(out, name + ".tflite"), "wb") as f:
            f.write(fn())


if __name__ == "__main__":
    main()
