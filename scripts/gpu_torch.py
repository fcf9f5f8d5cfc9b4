#!/usr/bin/env python3
"""gpu_torch.py -- the pose models' pruned graphs in PyTorch eager, from the same weights
as crease's engines, for the frames/s comparison of scripts/gpu-check (DESIGN.md §9:
the GPU engine is to reach 2x PyTorch eager fp16 on the full model at batch 256).

The graph and weights come from crease itself (`bench_engine_gpu dump`: the graph
after constant folding and pruning, as every engine runs it), so no TFLite reader and
no download is needed.  Activations are kept as NHWC tensors; convolutions see them
through a permuted view, which is PyTorch's channels_last layout (no copies).

For each model:
  1 fp32 on the two crops against the reference engine's outputs (payload/ref):
    max|diff| / range, as bench_engine_gpu; TF32 is turned off for this.  A failure
    here means this translation is wrong, and the exit status is 1.
  2 fp16 (weights and activations), the same comparison, reported only.
  3 frames/s at each batch: 3 warm-up runs, then runs for at least --min-seconds;
    "model" times the forward pass on device tensors, "with copies" adds the copy of
    a page-locked fp32 input up and of the outputs down as fp32 (what crease's
    engine_run includes).
Prints "time:" lines, then "table:" lines; stops starting new measurements after
--deadline seconds.  --device cpu runs steps 1-2 without a GPU (to check the script).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

MODELS = [
    # name, file, detector, input size, outputs (as bench_engine_gpu)
    ("detector", "pose_detection.tflite", True, 224, ["Identity", "Identity_1"]),
    ("lite", "pose_landmark_lite.tflite", False, 256,
     ["Identity", "Identity_1", "Identity_3", "Identity_4"]),
    ("full", "pose_landmark_full.tflite", False, 256,
     ["Identity", "Identity_1", "Identity_3", "Identity_4"]),
    ("heavy", "pose_landmark_heavy.tflite", False, 256,
     ["Identity", "Identity_1", "Identity_3", "Identity_4"]),
]
IMAGES = ["cold_water", "messi5"]
TOL = 1e-4  # DESIGN.md §7, for the fp32 translation check


class Graph:
    """A dumped graph: constants on the device, run() interprets the nodes in order."""

    def __init__(self, folder, device, dtype):
        with open(os.path.join(folder, "graph.json")) as f:
            self.g = json.load(f)
        w = np.fromfile(os.path.join(folder, "weights.f32"), dtype=np.float32)
        self.dtype = dtype
        self.const = {}
        self.conv_w = {}
        for i, t in enumerate(self.g["tensors"]):
            if t["offset"] >= 0:
                n = int(np.prod(t["dims"]))
                a = w[t["offset"]:t["offset"] + n].reshape(t["dims"])
                self.const[i] = torch.from_numpy(a.copy()).to(device=device, dtype=dtype)
        for k, n in enumerate(self.g["nodes"]):
            if n["op"] == "conv2d":
                # OHWI -> OIHW, stored channels_last (as the activations)
                wt = self.const[n["in"][1]].permute(0, 3, 1, 2)
                self.conv_w[k] = wt.contiguous(memory_format=torch.channels_last)
            elif n["op"] == "dwconv2d":
                # [1,KH,KW,C] -> [C,1,KH,KW]
                wt = self.const[n["in"][1]].permute(3, 0, 1, 2)
                self.conv_w[k] = wt.contiguous(memory_format=torch.channels_last)

    def names(self, idx):
        return self.g["tensors"][idx]["name"]

    def run(self, x):
        """x: NHWC input tensor; returns the outputs in graph order."""
        v = dict(self.const)
        v[self.g["input"]] = x
        batch = x.shape[0]
        for k, n in enumerate(self.g["nodes"]):
            v[n["out"]] = self.node(k, n, v, batch)
        return [v[o] for o in self.g["outputs"]]

    def clamp(self, y, n):
        lo, hi = n["act_min"], n["act_max"]
        if lo > -1e38 or hi < 1e38:
            y = torch.clamp(y, min=lo if lo > -1e38 else None, max=hi if hi < 1e38 else None)
        return y

    def node(self, k, n, v, batch):
        op = n["op"]
        x = v[n["in"][0]]
        if op in ("conv2d", "dwconv2d"):
            xc = x.permute(0, 3, 1, 2)  # NCHW view of NHWC data: channels_last
            top, bottom, left, right = n["pad"]
            if top != bottom or left != right:
                xc = F.pad(xc, (left, right, top, bottom))
                pad = (0, 0)
            else:
                pad = (top, left)
            b = v[n["in"][2]] if len(n["in"]) > 2 and n["in"][2] >= 0 else None
            groups = xc.shape[1] if op == "dwconv2d" else 1
            y = F.conv2d(xc, self.conv_w[k], b, stride=tuple(n["stride"]), padding=pad,
                         groups=groups)
            return self.clamp(y, n).permute(0, 2, 3, 1)
        if op == "add":
            return self.clamp(x + v[n["in"][1]], n)
        if op == "max_pool":
            top, bottom, left, right = n["pad"]
            xc = x.permute(0, 3, 1, 2)
            if top or bottom or left or right:
                xc = F.pad(xc, (left, right, top, bottom), value=float("-inf"))
            y = F.max_pool2d(xc, (n["kh"], n["kw"]), tuple(n["stride"]))
            return self.clamp(y, n).permute(0, 2, 3, 1)
        if op == "pad":
            pads = []
            for d in reversed(range(x.dim())):
                pads += n["pads"][d]
            return F.pad(x, tuple(pads), value=n["pad_value"])
        if op == "resize_bilinear":
            dims = self.g["tensors"][n["out"]]["dims"]
            if not n["align_corners"] and not n["half_pixel"]:
                raise SystemExit("gpu_torch: legacy RESIZE_BILINEAR is not translated")
            y = F.interpolate(x.permute(0, 3, 1, 2), size=(dims[1], dims[2]), mode="bilinear",
                              align_corners=bool(n["align_corners"]))
            return y.permute(0, 2, 3, 1)
        if op == "depth_to_space":
            b = n["block"]
            N, H, W, C = x.shape
            y = x.reshape(N, H, W, b, b, C // (b * b)).permute(0, 1, 3, 2, 4, 5)
            return y.reshape(N, H * b, W * b, C // (b * b))
        if op == "reshape":
            dims = list(self.g["tensors"][n["out"]]["dims"])
            dims[0] = batch  # every activation starts with the batch (graph.h)
            return x.reshape(dims)
        if op == "concat":
            return torch.cat([v[i] for i in n["in"]], dim=n["axis"])
        if op == "logistic":
            return torch.sigmoid(x)
        raise SystemExit("gpu_torch: operator %s is not translated" % op)


def load_crop(payload, image, size, detector):
    b = np.fromfile(os.path.join(payload, "crops", "%s_%d.rgb" % (image, size)), dtype=np.uint8)
    x = b.astype(np.float32)
    x = x / 127.5 - 1.0 if detector else x / 255.0
    return x.reshape(1, size, size, 3)


def compare(payload, name, outs, got, label):
    """got: list of [1,...] arrays per output, for each image.  Returns the worst rel."""
    worst_all = 0.0
    for o, out in enumerate(outs):
        worst = 0.0
        for k, image in enumerate(IMAGES):
            want = np.fromfile(os.path.join(payload, "ref", "%s.%s.%s.f32" % (name, image, out)),
                               dtype=np.float32)
            g = got[k][o].reshape(-1).astype(np.float64)
            scale = max(abs(float(want[0])), 1.0) if want.size == 1 else \
                float(want.max() - want.min())
            d = float(np.max(np.abs(g - want))) if g.size == want.size else float("inf")
            if np.isnan(d):
                d = float("inf")
            worst = max(worst, d / scale)
        print("check: %-8s torch-%s %-10s rel %.2e" % (name, label, out, worst))
        worst_all = max(worst_all, worst)
    return worst_all


def dump(tool, payload, model, outs, folder):
    subprocess.run([tool, "dump", os.path.join(payload, "models", model), folder] + outs,
                   check=True, stdout=subprocess.DEVNULL)


def time_it(graph, x_host, device, dtype, min_seconds):
    """frames/s of the forward pass alone, and with the copies."""
    batch = x_host.shape[0]
    xd = x_host.to(device=device, dtype=dtype)
    res = []
    for with_copies in (False, True):
        def once():
            if with_copies:
                xx = x_host.to(device=device, non_blocking=True).to(dtype)
                return [o.float().to("cpu") for o in graph.run(xx)]
            return graph.run(xd)
        with torch.no_grad():
            for _ in range(3):
                once()
            torch.cuda.synchronize()
            runs, t0 = 0, time.perf_counter()
            while runs < 5 or time.perf_counter() - t0 < min_seconds:
                once()
                runs += 1
                if not with_copies:
                    torch.cuda.synchronize()
            torch.cuda.synchronize()
            res.append(batch * runs / (time.perf_counter() - t0))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--payload", required=True)
    ap.add_argument("--tool", help="bench_engine_gpu (default: PAYLOAD/bin/bench_engine_gpu)")
    ap.add_argument("--batches", default="1,64,256")
    ap.add_argument("--deadline", type=float, default=150)
    ap.add_argument("--min-seconds", type=float, default=1.0)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--models", default="detector,lite,full,heavy")
    a = ap.parse_args()
    t0 = time.time()
    tool = a.tool or os.path.join(a.payload, "bin", "bench_engine_gpu")
    batches = [int(b) for b in a.batches.split(",")]
    dev = torch.device(a.device)
    torch.backends.cudnn.benchmark = True
    if dev.type == "cuda":
        print("torch %s on %s" % (torch.__version__, torch.cuda.get_device_name(0)))
    ok = True
    fps = {}
    work = tempfile.mkdtemp(prefix="gpu_torch_")
    chosen = [m for m in MODELS if m[0] in a.models.split(",")]
    for name, model, detector, size, outs in chosen:
        folder = os.path.join(work, name)
        os.makedirs(folder)
        dump(tool, a.payload, model, outs, folder)
        crops = [load_crop(a.payload, im, size, detector) for im in IMAGES]
        for label, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
            if dev.type == "cpu" and dtype == torch.float16:
                continue
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
            g = Graph(folder, dev, dtype)
            with torch.no_grad():
                got = [[o.float().cpu().numpy() for o in
                        g.run(torch.from_numpy(c).to(device=dev, dtype=dtype))] for c in crops]
            rel = compare(a.payload, name, outs, got, label)
            if label == "fp32" and rel > TOL:
                print("check: MISMATCH torch-fp32 %s: rel %.2e > %.0e (the translation is wrong)"
                      % (name, rel, TOL))
                ok = False
        if dev.type != "cuda":
            continue
        g = Graph(folder, dev, torch.float16)
        for batch in batches:
            if time.time() - t0 > a.deadline:
                print("time: deadline of %.0f s reached: the table is partial" % a.deadline)
                break
            reps = (batch + len(crops) - 1) // len(crops)
            x = torch.from_numpy(np.concatenate(crops * reps)[:batch]).pin_memory()
            model_fps, copies_fps = time_it(g, x, dev, torch.float16, a.min_seconds)
            fps[(name, batch)] = (model_fps, copies_fps)
            print("time: %-8s torch-fp16 batch %-4d model %10.1f frames/s  with copies %10.1f"
                  % (name, batch, model_fps, copies_fps))
            sys.stdout.flush()
        del g
        torch.cuda.empty_cache()
    if dev.type == "cuda":
        print("table: frames/s, PyTorch %s eager fp16 (model only / with copies up and down)"
              % torch.__version__)
        print("table: %-8s" % "model" + "".join(" %20s" % ("batch %d" % b) for b in batches))
        for name, *_ in chosen:
            cells = []
            for b in batches:
                f = fps.get((name, b))
                cells.append(" %20s" % ("%.1f / %.1f" % f if f else "-"))
            print("table: %-8s" % name + "".join(cells))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
