#!/usr/bin/python3
"""Convert the TF.js CenterNet detector of @vladmandic/human to TorchScript.

Source: npm @vladmandic/human 3.3.6, models/centernet.json + centernet.bin (TF.js graph model,
MobileNetV3 + CenterNet head, COCO-80; MIT).  No TensorFlow is needed: the model.json node list
(op / input / attr) and the weightsManifest (names, shapes, dtypes, float16 or affine uint8/16
quantization) are parsed here and a generic interpreter nn.Module replays the nodes in
topological order in float32 (4-D activations kept NCHW).  Unknown ops fail loudly.

What human does with the model (src/object/centernet.ts, config.ts, labels.ts):
  * input: float32 RGB 0..255 (no scaling: the graph's first op is the convolution),
    tf.image.resizeBilinear to 512x512 (align_corners=false, half_pixel_centers=false, the
    image is stretched, no letterbox), NHWC;
  * the graph itself decodes: sigmoid heatmap [1,128,128,80], 3x3 max-pool peak mask, top-100
    over the flattened HWC heatmap, class = index % 80, cell = index // 80, box =
    (4x - wh0, 4y - wh1, 4x + wh2, 4y + wh3) in 512-input pixels -> 'tower_0/detections'
    [1,100,6] = x1,y1,x2,y2,score,class;
  * human then runs class-agnostic tf.image.nonMaxSuppression (maxDetected 10, iouThreshold
    0.4, minConfidence 0.2: score > 0.2, suppressed when IoU >= 0.4), label = labels[class]
    (0 = person), score truncated to 2 decimals, box / 512 (x, y, w, h).

TorchScript contract (the C++ server depends on it):
  input   float32 [B, 3, N, N] NCHW RGB, pixel_0_255 (mean 0, std 1); N = 512 or --input-size N;
  output  tuple (boxes [B,K,4], scores [B,K], classes [B,K]), K = 100, all float32:
          boxes   (x_min, y_min, x_max, y_max) / N, clipped to [0, 1];
          scores  heatmap peak scores in [0, 1], sorted descending; 0 for peaks removed by the
                  greedy class-agnostic NMS (IoU >= --iou, default 0.4, as human) and their box 0;
          classes COCO index 0..79 (0 = person) as in human's labels.ts / coco_words.tsv.
  The C++ side only thresholds (score > min_score) and keeps the first top_k: this reproduces
  human's detections for any threshold (NMS of candidates above a threshold only involves
  higher-scoring candidates).  Batch > 1 gives per-image results equal to batch 1.
The file carries i2s_meta.json (torch::jit::load(path, device, extra_files)).  It is a plain
torch.jit.trace (the NMS loop is a scripted function called from the trace); never saved after
optimize_for_inference.

Validation (fails the conversion when out of bounds): the batched decoder against the graph's own
decode subgraph (interpreted for batch 1: 'tower_0/detections'), traced vs eager, reloaded file,
batch 1 / 3 vs batch 2 per image, on synthetic images and --check-images.  The numerical parity
against TF.js itself is tools/assets/check_centernet_parity.py.

Usage: convert_centernet.py centernet.json OUT.pt [--input-size N] [--meta-json M] [--bench]
         [--check-images IMG...] [--words coco_words.tsv --labels-ts labels.ts --glove G.i2sv]
"""

import argparse
import base64
import hashlib
import json
import os
import re
import struct
import sys
import time
import warnings
from collections import ChainMap, Counter

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
# shapes are static (fixed input size): the tracer's "treated as a constant" notes are expected
warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)

TOWER_IN = "tower_0/images"
HEAT, WH, DETS = "tower_0/keypoints", "tower_0/wh", "tower_0/detections"

SUPPORTED = {"Placeholder", "Const", "Identity", "_FusedConv2D", "Conv2D",
             "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative", "Relu", "Relu6", "Sigmoid",
             "Mul", "Add", "AddV2", "Sub", "Mean", "ConcatV2", "ResizeBilinear", "MaxPool",
             # decode subgraph (validated for batch 1, replaced by CenterNetDetector.decode)
             "Equal", "Cast", "Reshape", "TopKV2", "FloorDiv", "FloorMod", "ExpandDims",
             "GatherV2", "StridedSlice",
             # other human graph models (tools/assets/convert_faces.py: BlazeFace, emotion)
             "Pad", "Softmax"}


def log(msg):
    print(f"[convert_centernet] {msg}", flush=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --- TF.js graph model reader -----------------------------------------------------------------

DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
QDTYPES = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}


def read_weights(model, base_dir):
    """weightsManifest + shards -> {name: np.ndarray} (float16 / affine-quantized dequantized)."""
    out = {}
    for group in model["weightsManifest"]:
        data = b"".join(open(os.path.join(base_dir, p), "rb").read() for p in group["paths"])
        off = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            n = int(np.prod(shape)) if shape else 1
            dtype = w["dtype"]
            q = w.get("quantization")
            if q:
                qd = QDTYPES.get(q["dtype"])
                if qd is None:
                    raise NotImplementedError(f"weight {w['name']}: quantization {q['dtype']}")
                raw = np.frombuffer(data, qd, n, off)
                off += n * np.dtype(qd).itemsize
                if q["dtype"] == "float16":
                    a = raw.astype(np.float32)
                else:  # tfjs: value = q * scale + min
                    a = raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])
                if dtype == "int32":
                    a = np.round(a).astype(np.int32)
                elif dtype != "float32":
                    raise NotImplementedError(f"weight {w['name']}: quantized {dtype}")
            else:
                if dtype not in DTYPES:
                    raise NotImplementedError(f"weight {w['name']}: dtype {dtype}")
                a = np.frombuffer(data, DTYPES[dtype], n, off)
                off += n * np.dtype(DTYPES[dtype]).itemsize
            out[w["name"]] = np.array(a).reshape(shape)
        if off != len(data):
            raise ValueError(f"weights group {group['paths']}: used {off} of {len(data)} bytes")
    return out


def attr_value(v):
    if "list" in v:
        lst = v["list"]
        if "i" in lst:
            return [int(x) for x in lst["i"]]
        if "s" in lst:
            return [base64.b64decode(x).decode() for x in lst["s"]]
        if "f" in lst:
            return [float(x) for x in lst["f"]]
        return []
    if "s" in v:
        return base64.b64decode(v["s"]).decode()
    if "i" in v:
        return int(v["i"])
    if "f" in v:
        return float(v["f"])
    if "b" in v:
        return bool(v["b"])
    if "type" in v:
        return v["type"]
    return v


class Graph:
    def __init__(self, json_path):
        with open(json_path) as f:
            self.model = json.load(f)
        if self.model.get("format") != "graph-model":
            raise ValueError(f"{json_path}: not a TF.js graph model")
        self.weights = read_weights(self.model, os.path.dirname(os.path.abspath(json_path)))
        self.nodes = {}
        for n in self.model["modelTopology"]["node"]:
            ins = [i for i in n.get("input", []) if not i.startswith("^")]
            self.nodes[n["name"]] = {"name": n["name"], "op": n["op"], "inputs": ins,
                                     "attr": {k: attr_value(v) for k, v in
                                              n.get("attr", {}).items()}}
        for name, n in self.nodes.items():
            if n["op"] == "Const" and name not in self.weights:
                raise ValueError(f"Const {name} has no weight data")
        self.ops = Counter(n["op"] for n in self.nodes.values())
        unknown = sorted(set(self.ops) - SUPPORTED)
        if unknown:
            raise NotImplementedError(f"unsupported TF.js ops: {unknown}")

    @staticmethod
    def src(inp):
        """'name:1' -> ('name', 1)."""
        m = re.match(r"^(.*):(\d+)$", inp)
        return (m.group(1), int(m.group(2))) if m else (inp, 0)

    def order(self, outputs):
        """Topological order of the non-Const nodes the outputs depend on."""
        seen, out = set(), []

        def visit(name):
            stack = [(name, False)]
            while stack:
                nm, done = stack.pop()
                if done:
                    out.append(nm)
                    continue
                if nm in seen:
                    continue
                seen.add(nm)
                if nm not in self.nodes:
                    raise ValueError(f"unknown node {nm}")
                stack.append((nm, True))
                for i in reversed(self.nodes[nm]["inputs"]):
                    stack.append((self.src(i)[0], False))
        for o in outputs:
            visit(o)
        return [n for n in out if self.nodes[n]["op"] != "Const"]


# --- interpreter -------------------------------------------------------------------------------

NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


def same_pad(size, k, stride, dil):
    """TensorFlow SAME padding (before, after); the extra pixel goes after."""
    out = (size + stride - 1) // stride
    eff = (k - 1) * dil + 1
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


def legacy_resize_index(in_size, out_size, align_corners, half_pixel):
    """TF/TF.js ResizeBilinear source rows: (floor idx, ceil idx, frac) per output row."""
    eff_in = in_size - 1 if align_corners and out_size > 1 else in_size
    eff_out = out_size - 1 if align_corners and out_size > 1 else out_size
    ratio = eff_in / eff_out
    lo, hi, fr = [], [], []
    for r in range(out_size):
        s = ratio * (r + 0.5) - 0.5 if half_pixel else ratio * r
        f = max(0, int(np.floor(s)))
        lo.append(f)
        hi.append(min(in_size - 1, int(np.ceil(s))))
        fr.append(s - f)
    return lo, hi, fr


class TFJSNet(torch.nn.Module):
    """Interprets the graph up to `outputs`; 4-D tensors NCHW, others in TF layout.

    fuse_hswish: x * c * relu6(x + 3) -> F.hardswish(x) * 6c (and c * relu6(x + 3) ->
    F.hardsigmoid(x) * 6c); the graph's c is float16(1/6) = 0.16662598, not 1/6.
    """

    def __init__(self, graph, outputs, fuse_hswish=True, input_name=TOWER_IN):
        super().__init__()
        self.g = graph
        self.input_name = input_name
        self.outputs = list(outputs)
        self.steps = []
        order = graph.order(self.outputs)
        consumers = Counter()
        for nm in order:
            for i in graph.nodes[nm]["inputs"]:
                consumers[i] += 1
        for o in self.outputs:
            consumers[o] += 1
        skip = set()
        self.fused = Counter()
        for nm in order:
            if nm in skip:
                continue
            n = graph.nodes[nm]
            if fuse_hswish and n["op"] == "Mul":
                f = self._match_hswish(n, consumers)
                if f is not None:
                    kind, x, scale, inner = f
                    skip.update(inner)
                    self.steps.append({"name": nm, "op": kind, "x": x, "scale": scale})
                    self.fused[kind] += 1
                    continue
            self.steps.append({"name": nm, "op": n["op"], "inputs": n["inputs"],
                               "attr": n["attr"]})
        # skipped nodes must not be needed elsewhere
        produced = {s["name"] for s in self.steps}
        for s in self.steps:
            for i in s.get("inputs", []) + ([s["x"]] if "x" in s else []):
                src = graph.src(i)[0]
                if graph.nodes[src]["op"] != "Const" and src not in produced \
                        and graph.nodes[src]["op"] != "Placeholder":
                    raise RuntimeError(f"fusion removed {src} still used by {s['name']}")
        self.fold_scales = fuse_hswish
        self._plan_scales()
        self.prepared = False
        self._shapes = {}

    def _plan_scales(self):
        """The fused hard-swish leaves a constant factor 6c (0.99976) on its output.  Rather than
        an extra multiply after every activation (which also drops optimize_for_inference out of
        MKLDNN), carry it as a static per-tensor scale through ops that commute with a positive
        factor (Relu, Mean, Identity, Mul, equal-scale ConcatV2) and fold it into the weights of
        the next convolution; multiply explicitly ("mat") only where that is not possible."""
        scale = {}
        self.n_materialized = 0
        for s in self.steps:
            op, ins = s["op"], s.get("inputs", [s.get("x")])
            s["mat"] = {}

            def need(name):
                if scale.get(name, 1.0) != 1.0:
                    s["mat"][name] = scale[name]
                    self.n_materialized += 1
            if op in ("HardSwish", "HardSigmoid"):
                need(s["x"])
                if self.fold_scales and s["scale"] > 0:
                    scale[s["name"]], s["mul"] = s["scale"], 1.0
                else:
                    s["mul"] = s["scale"]
            elif op in ("_FusedConv2D", "Conv2D", "DepthwiseConv2dNative",
                        "FusedDepthwiseConv2dNative"):
                s["in_scale"] = scale.get(ins[0], 1.0)    # folded into the weights
            elif op in ("Relu", "Mean", "Identity"):
                scale[s["name"]] = scale.get(ins[0], 1.0)
            elif op == "Mul":
                consts = [self._const(i) is not None for i in ins]
                if not any(consts):
                    scale[s["name"]] = scale.get(ins[0], 1.0) * scale.get(ins[1], 1.0)
                else:
                    scale[s["name"]] = scale.get(ins[consts.index(False)], 1.0) \
                        if not all(consts) else 1.0
            elif op == "ConcatV2" and len({scale.get(i, 1.0) for i in ins[:-1]}) == 1:
                scale[s["name"]] = scale.get(ins[0], 1.0)
            else:
                for i in ins:
                    need(i)
        self.out_mat = {o: scale[o] for o in self.outputs if scale.get(o, 1.0) != 1.0}
        self.n_materialized += len(self.out_mat)

    def _const(self, name):
        nm, idx = self.g.src(name)
        n = self.g.nodes.get(nm)
        if n is None or n["op"] != "Const":
            return None
        return self.g.weights[nm]

    def _match_hswish(self, n, consumers):
        """Mul(Mul(c, x), Relu6(Add(x, 3))) or Mul(c, Relu6(Add(x, 3))) in either order."""
        g = self.g
        a, b = n["inputs"]

        def relu6_of_add3(name):
            r = g.nodes.get(g.src(name)[0])
            if r is None or r["op"] != "Relu6" or consumers[name] != 1:
                return None
            ad = g.nodes[g.src(r["inputs"][0])[0]]
            if ad["op"] not in ("Add", "AddV2") or consumers[r["inputs"][0]] != 1:
                return None
            c0, c1 = (self._const(i) for i in ad["inputs"])
            if c1 is not None and c1.size == 1 and float(c1) == 3.0 and c0 is None:
                return ad["inputs"][0], [r["name"], ad["name"]]
            if c0 is not None and c0.size == 1 and float(c0) == 3.0 and c1 is None:
                return ad["inputs"][1], [r["name"], ad["name"]]
            return None

        def mul_c_x(name):
            m = g.nodes.get(g.src(name)[0])
            if m is None or m["op"] != "Mul" or consumers[name] != 1:
                return None
            c0, c1 = (self._const(i) for i in m["inputs"])
            if c0 is not None and c0.size == 1 and c1 is None:
                return float(c0), m["inputs"][1], m["name"]
            if c1 is not None and c1.size == 1 and c0 is None:
                return float(c1), m["inputs"][0], m["name"]
            return None

        for p, q in ((a, b), (b, a)):
            r = relu6_of_add3(q)
            if r is None:
                continue
            x, inner = r
            m = mul_c_x(p)
            if m is not None and m[1] == x:          # hard swish
                return "HardSwish", x, 6.0 * m[0], inner + [m[2]]
            c = self._const(p)
            if c is not None and c.size == 1:         # hard sigmoid
                return "HardSigmoid", x, 6.0 * float(c), inner
        return None

    # weights are baked into buffers by prepare() once shapes are known
    def prepare(self, height, width, channels=3):
        with torch.no_grad():
            self.forward(torch.zeros(1, channels, height, width), _record=True)
        for i, s in enumerate(self.steps):
            op = s["op"]
            if op in ("_FusedConv2D", "Conv2D", "DepthwiseConv2dNative",
                      "FusedDepthwiseConv2dNative"):
                self._prepare_conv(i, s, self._shapes[s["name"]])
        self.prepared = True
        self.input_hw = (height, width)

    def _prepare_conv(self, i, s, in_shape):
        a = s["attr"]
        if a.get("data_format", "NHWC") != "NHWC":
            raise NotImplementedError(f"{s['name']}: data_format {a['data_format']}")
        w = self._const(s["inputs"][1])
        if w is None:
            raise NotImplementedError(f"{s['name']}: non-constant filter")
        kh, kw = w.shape[0], w.shape[1]
        depthwise = s["op"] in ("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative")
        if depthwise:   # [kh, kw, in, mult] -> [in*mult, 1, kh, kw]
            cin, mult = w.shape[2], w.shape[3]
            w = w.transpose(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw)
            groups = cin
        else:           # [kh, kw, in, out] -> [out, in, kh, kw]
            w = w.transpose(3, 2, 0, 1)
            groups = 1
            if w.shape[1] != in_shape[1]:
                raise ValueError(f"{s['name']}: filter in-channels {w.shape[1]} vs {in_shape[1]}")
        st = a.get("strides", [1, 1, 1, 1])
        dl = a.get("dilations", [1, 1, 1, 1])
        sh, sw, dh, dw = st[1], st[2], dl[1], dl[2]
        pad = a.get("padding", "VALID")
        if pad == "SAME":
            t, b = same_pad(in_shape[2], kh, sh, dh)
            l, r = same_pad(in_shape[3], kw, sw, dw)
        elif pad == "VALID":
            t = b = l = r = 0
        else:
            raise NotImplementedError(f"{s['name']}: padding {pad}")
        # TF SAME puts the odd pixel after.  Instead of an explicit F.pad (which makes
        # optimize_for_inference leave MKLDNN), give the kernel a leading zero row/column and
        # pad symmetrically by before+1: exactly TF's window (see convert_tflite.py).
        if b == t + 1 and dh == 1:
            w = np.pad(w, ((0, 0), (0, 0), (1, 0), (0, 0)))
            t = b
        if r == l + 1 and dw == 1:
            w = np.pad(w, ((0, 0), (0, 0), (0, 0), (1, 0)))
            l = r
        fused = a.get("fused_ops", [])
        bias = None
        act = None
        if s["op"] in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            if not fused or fused[0] != "BiasAdd" or len(fused) > 2 or a.get("num_args", 1) != 1:
                raise NotImplementedError(f"{s['name']}: fused_ops {fused}")
            bias = self._const(s["inputs"][2])
            if len(fused) == 2:
                if fused[1] not in ("Relu", "Relu6"):
                    raise NotImplementedError(f"{s['name']}: fused activation {fused[1]}")
                act = fused[1]
        if s["in_scale"] != 1.0:       # conv(k * x) == conv_{k w}(x)
            w = w * np.float32(s["in_scale"])
        self.register_buffer(f"w{i}", torch.from_numpy(np.ascontiguousarray(w, np.float32)))
        if bias is not None:
            self.register_buffer(f"b{i}", torch.from_numpy(np.array(bias, np.float32)))
        s["conv"] = {"stride": (sh, sw), "dil": (dh, dw), "groups": groups, "act": act,
                     "pad": (l, r, t, b), "bias": bias is not None}

    def _tensor(self, env, name, like=None):
        if name in env:
            return env[name]
        c = self._const(name)
        if c is None:
            raise KeyError(name)
        if c.size == 1 and c.ndim == 0:
            return float(c) if c.dtype.kind == "f" else int(c)
        t = torch.from_numpy(np.array(c))
        if t.dim() == 4:
            t = t.permute(0, 3, 1, 2)
        return t

    @staticmethod
    def _rank(v):
        return v.dim() if torch.is_tensor(v) else 0

    def forward(self, x, _record=False):
        env = {self.input_name: x}
        for i, s in enumerate(self.steps):
            op, nm = s["op"], s["name"]
            if op == "Placeholder":
                continue
            E = env
            if s["mat"]:   # inputs whose carried scale cannot be folded further
                E = ChainMap({k: E[k] * v for k, v in s["mat"].items()}, env)
            if op in ("HardSwish", "HardSigmoid"):
                a = E[s["x"]]
                y = F.hardswish(a) if op == "HardSwish" else F.hardsigmoid(a)
                if s["mul"] != 1.0:
                    y = y * s["mul"]
                env[nm] = y
                continue
            ins = s["inputs"]
            at = s["attr"]
            if op in ("_FusedConv2D", "Conv2D", "DepthwiseConv2dNative",
                      "FusedDepthwiseConv2dNative"):
                a = E[ins[0]]
                if _record:   # shape propagation before the weights are baked
                    if s["in_scale"] != 1.0:
                        a = a * s["in_scale"]
                    self._shapes[nm] = tuple(a.shape)
                    w = self._const(ins[1])
                    if "Depthwise" in op:
                        wt = w.transpose(2, 3, 0, 1).reshape(w.shape[2] * w.shape[3], 1,
                                                             w.shape[0], w.shape[1])
                        groups = w.shape[2]
                    else:
                        wt, groups = w.transpose(3, 2, 0, 1), 1
                    st, dl = at.get("strides", [1] * 4), at.get("dilations", [1] * 4)
                    if at.get("padding") == "SAME":
                        t, b = same_pad(a.shape[2], w.shape[0], st[1], dl[1])
                        l, r = same_pad(a.shape[3], w.shape[1], st[2], dl[2])
                        a = F.pad(a, (l, r, t, b))
                    y = F.conv2d(a, torch.from_numpy(np.ascontiguousarray(wt, np.float32)), None,
                                 (st[1], st[2]), 0, (dl[1], dl[2]), groups)
                else:
                    c = s["conv"]
                    l, r, t, b = c["pad"]
                    padding = (0, 0)
                    if l == r and t == b:
                        padding = (t, l)
                    else:
                        a = F.pad(a, (l, r, t, b))
                    y = F.conv2d(a, getattr(self, f"w{i}"),
                                 getattr(self, f"b{i}") if c["bias"] else None,
                                 c["stride"], padding, c["dil"], c["groups"])
                    if c["act"] == "Relu":
                        y = F.relu(y)
                    elif c["act"] == "Relu6":
                        y = F.relu6(y)
            elif op == "Identity":
                y = self._tensor(E, ins[0])
            elif op == "Relu":
                y = F.relu(E[ins[0]])
            elif op == "Relu6":
                y = F.relu6(E[ins[0]])   # aten::hardtanh
            elif op == "Sigmoid":
                y = torch.sigmoid(E[ins[0]])
            elif op == "Softmax":
                a = E[ins[0]]
                if a.dim() == 4:
                    raise NotImplementedError(f"{nm}: Softmax on a 4-D tensor")
                y = torch.softmax(a, dim=-1)
            elif op == "Pad":
                a = E[ins[0]]
                pads = np.array(self._const(ins[1])).reshape(-1, 2).tolist()
                if a.dim() != 4 or pads[0] != [0, 0]:
                    raise NotImplementedError(f"{nm}: Pad {pads} of a rank-{a.dim()} tensor")
                (t, b), (l, r), (cf, cb) = pads[1], pads[2], pads[3]   # NHWC paddings
                y = F.pad(a, (int(l), int(r), int(t), int(b), int(cf), int(cb)))
            elif op in ("Mul", "Add", "AddV2", "Sub", "Equal", "FloorDiv", "FloorMod"):
                p, q = self._tensor(E, ins[0]), self._tensor(E, ins[1])
                scalar = [not torch.is_tensor(v) or v.numel() == 1 for v in (p, q)]
                if self._rank(p) != self._rank(q) and not any(scalar):
                    raise NotImplementedError(f"{nm}: broadcast of ranks {self._rank(p)}, "
                                              f"{self._rank(q)}")   # NCHW would misalign
                if op == "Mul":
                    y = p * q
                elif op in ("Add", "AddV2"):
                    y = p + q
                elif op == "Sub":
                    y = p - q
                elif op == "Equal":
                    y = p == q
                elif op == "FloorDiv":
                    y = torch.div(p, q, rounding_mode="floor")
                else:
                    y = torch.remainder(p, q)
            elif op == "Mean":
                a = E[ins[0]]
                axes = [int(v) for v in np.array(self._const(ins[1])).reshape(-1)]
                axes = [ax % a.dim() for ax in axes]
                if a.dim() == 4:
                    axes = [NHWC_TO_NCHW_AXIS[ax] for ax in axes]
                y = a.mean(dim=axes, keepdim=bool(at.get("keep_dims", False)))
            elif op == "ConcatV2":
                parts = [E[v] for v in ins[:-1]]
                ax = int(self._const(ins[-1]))
                rank = parts[0].dim()
                ax %= rank
                if rank == 4:
                    ax = NHWC_TO_NCHW_AXIS[ax]
                y = torch.cat(parts, dim=ax)
            elif op == "ResizeBilinear":
                a = E[ins[0]]
                oh, ow = [int(v) for v in np.array(self._const(ins[1])).reshape(-1)]
                ac, hp = bool(at.get("align_corners", False)), bool(at.get("half_pixel_centers",
                                                                              False))
                y = self._resize(a, oh, ow, ac, hp)
            elif op == "MaxPool":
                a = E[ins[0]]
                k, st = at["ksize"], at["strides"]
                if at.get("data_format", "NHWC") != "NHWC" or k[0] != 1 or k[3] != 1:
                    raise NotImplementedError(f"{nm}: MaxPool {at}")
                kh, kw, sh, sw = k[1], k[2], st[1], st[2]
                if at.get("padding") == "SAME":
                    t, b = same_pad(a.shape[2], kh, sh, 1)
                    l, r = same_pad(a.shape[3], kw, sw, 1)
                else:
                    t = b = l = r = 0
                if t == b and l == r and 2 * t <= kh and 2 * l <= kw:
                    y = F.max_pool2d(a, (kh, kw), (sh, sw), (t, l))   # pads with -inf
                else:
                    y = F.max_pool2d(F.pad(a, (l, r, t, b), value=float("-inf")), (kh, kw),
                                     (sh, sw))
            elif op == "Cast":
                a = E[ins[0]]
                dst = at.get("DstT")
                if dst == "DT_FLOAT":
                    y = a.float()
                elif dst == "DT_INT32":
                    y = a.to(torch.int64) if a.is_floating_point() is False else a.trunc().long()
                else:
                    raise NotImplementedError(f"{nm}: Cast to {dst}")
            elif op == "Reshape":
                a = E[ins[0]]
                shape = [int(v) for v in np.array(self._const(ins[1])).reshape(-1)]
                if a.dim() == 4:
                    a = a.permute(0, 2, 3, 1)
                y = a.reshape(shape)
                if y.dim() == 4:
                    y = y.permute(0, 3, 1, 2)
            elif op == "TopKV2":
                a = E[ins[0]]
                k = int(self._const(ins[1]))
                if a.dim() == 4:
                    raise NotImplementedError(f"{nm}: TopK on a 4-D tensor")
                v, idx = torch.topk(a, k, dim=-1, largest=True, sorted=True)
                env[nm + ":1"] = idx
                y = v
            elif op == "ExpandDims":
                a = self._tensor(E, ins[0])
                d = int(self._const(ins[1]))
                y = a.unsqueeze(d)
                if y.dim() == 4:
                    raise NotImplementedError(f"{nm}: ExpandDims to rank 4")
            elif op == "GatherV2":
                p, idx = E[ins[0]], E[ins[1]]
                ax = int(self._const(ins[2]))
                if at.get("batch_dims", 0) != 0 or p.dim() == 4:
                    raise NotImplementedError(f"{nm}: GatherV2 {at}")
                ax %= p.dim()
                y = p.index_select(ax, idx.reshape(-1).long())
                y = y.reshape(list(p.shape[:ax]) + list(idx.shape) + list(p.shape[ax + 1:]))
            elif op == "StridedSlice":
                y = self._strided_slice(nm, E[ins[0]], *(self._const(v) for v in ins[1:4]), at)
            else:
                raise NotImplementedError(f"{nm}: op {op}")
            env[nm] = y
        return tuple(env[o] * self.out_mat[o] if o in self.out_mat else env[o]
                     for o in self.outputs)

    @staticmethod
    def _strided_slice(nm, a, begin, end, strides, at):
        if a.dim() == 4:
            raise NotImplementedError(f"{nm}: StridedSlice on a 4-D tensor")
        if at.get("ellipsis_mask", 0) or at.get("new_axis_mask", 0):
            raise NotImplementedError(f"{nm}: StridedSlice masks {at}")
        bm, em, sm = at.get("begin_mask", 0), at.get("end_mask", 0), at.get("shrink_axis_mask", 0)
        sl = []
        for d, (b, e, s) in enumerate(zip(begin, end, strides)):
            if s != 1:
                raise NotImplementedError(f"{nm}: stride {s}")
            if sm >> d & 1:
                sl.append(int(b))
            else:
                sl.append(slice(None if bm >> d & 1 else int(b), None if em >> d & 1 else int(e)))
        return a[tuple(sl)]

    @staticmethod
    def _resize(a, oh, ow, align_corners, half_pixel):
        n, c, ih, iw = a.shape
        if (ih, iw) == (oh, ow):
            return a
        # exact TF/TF.js arithmetic: columns first, then rows, lerp as top + (bot - top) * frac
        lo, hi, fr = legacy_resize_index(iw, ow, align_corners, half_pixel)
        left = a.index_select(3, torch.tensor(lo))
        right = a.index_select(3, torch.tensor(hi))
        a = left + (right - left) * torch.tensor(fr, dtype=torch.float32).view(1, 1, 1, ow)
        lo, hi, fr = legacy_resize_index(ih, oh, align_corners, half_pixel)
        top = a.index_select(2, torch.tensor(lo))
        bot = a.index_select(2, torch.tensor(hi))
        return top + (bot - top) * torch.tensor(fr, dtype=torch.float32).view(1, 1, oh, 1)


# --- decoder + NMS ------------------------------------------------------------------------------

@torch.jit.script
def greedy_nms_keep(boxes: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """TF/TF.js nonMaxSuppression on score-sorted boxes [B, K, 4] (any corner order):
    candidate i is dropped when IoU >= threshold with a kept higher-ranked one."""
    b = boxes.double()
    x1 = torch.minimum(b[..., 0], b[..., 2])
    x2 = torch.maximum(b[..., 0], b[..., 2])
    y1 = torch.minimum(b[..., 1], b[..., 3])
    y2 = torch.maximum(b[..., 1], b[..., 3])
    area = (x2 - x1) * (y2 - y1)
    iw = (torch.minimum(x2.unsqueeze(2), x2.unsqueeze(1)) -
          torch.maximum(x1.unsqueeze(2), x1.unsqueeze(1))).clamp(min=0.0)
    ih = (torch.minimum(y2.unsqueeze(2), y2.unsqueeze(1)) -
          torch.maximum(y1.unsqueeze(2), y1.unsqueeze(1))).clamp(min=0.0)
    inter = iw * ih
    union = area.unsqueeze(2) + area.unsqueeze(1) - inter
    valid = (area.unsqueeze(2) > 0) & (area.unsqueeze(1) > 0)
    iou = torch.where(valid, inter / torch.where(valid, union, torch.ones_like(union)),
                      torch.zeros_like(union))
    over = iou >= iou_threshold
    k = boxes.size(1)
    keep = torch.ones(boxes.size(0), k, dtype=torch.bool, device=boxes.device)
    for i in range(1, k):
        keep[:, i] = ~(over[:, i, :i] & keep[:, :i]).any(dim=1)
    return keep


def maxpool3x3_same(x):
    """== F.max_pool2d(x, 3, 1, 1) (TF MaxPool 3x3 stride 1 SAME, bit-exact) as separable shifted
    maxima: ~4 ms instead of ~36 ms for [1, 80, 128, 128] on one CPU thread (NCHW max_pool2d)."""
    p = F.pad(x, (1, 1, 1, 1), value=float("-inf"))
    h = torch.maximum(torch.maximum(p[:, :, :, :-2], p[:, :, :, 1:-1]), p[:, :, :, 2:])
    return torch.maximum(torch.maximum(h[:, :, :-2, :], h[:, :, 1:-1, :]), h[:, :, 2:, :])


class CenterNetDetector(torch.nn.Module):
    """Network (TFJSNet -> heatmap, wh) + the graph's decode, batched, + human's NMS."""

    def __init__(self, net, top_k, stride, num_classes, input_hw, iou_threshold):
        super().__init__()
        self.net = net
        self.top_k = top_k
        self.stride = float(stride)
        self.num_classes = num_classes
        self.input_hw = input_hw
        self.iou_threshold = float(iou_threshold)
        self.raw = False   # True: return (heat NHWC, wh NHWC, detections [B,K,6]) for checks

    def decode(self, heat, wh):
        """Exactly tower_0/detections: heat [B,C,H,W] sigmoid, wh [B,4,H,W] -> [B,K,6]."""
        bsz, c, h, w = heat.shape
        peak = heat * (heat == maxpool3x3_same(heat)).float()
        flat = peak.permute(0, 2, 3, 1).reshape(bsz, h * w * c)      # TF's HWC order
        score, idx = torch.topk(flat, self.top_k, dim=1, largest=True, sorted=True)
        cls = torch.remainder(idx, c)
        cell = torch.div(idx, c, rounding_mode="floor")
        ys = torch.div(cell, w, rounding_mode="floor")
        xs = torch.remainder(cell, w)
        whf = wh.permute(0, 2, 3, 1).reshape(bsz, h * w, 4)
        g = torch.gather(whf, 1, cell.unsqueeze(2).expand(bsz, self.top_k, 4))
        cx, cy = xs.float() * self.stride, ys.float() * self.stride
        x1, y1 = cx - g[..., 0], cy - g[..., 1]
        x2, y2 = cx + g[..., 2], cy + g[..., 3]
        return torch.stack([x1, y1, x2, y2, score, cls.float()], dim=2)

    def forward(self, x):
        heat, wh = self.net(x)
        det = self.decode(heat, wh)
        if self.raw:
            return heat.permute(0, 2, 3, 1), wh.permute(0, 2, 3, 1), det
        boxes_px, score, cls = det[..., 0:4], det[..., 4], det[..., 5]
        keep = greedy_nms_keep(boxes_px, self.iou_threshold)
        score = torch.where(keep, score, torch.zeros_like(score))
        order = torch.sort(score, dim=1, descending=True, stable=True).indices
        score = torch.gather(score, 1, order)
        cls = torch.gather(cls, 1, order)
        boxes_px = torch.gather(boxes_px, 1, order.unsqueeze(2).expand_as(boxes_px))
        hh, ww = float(self.input_hw[0]), float(self.input_hw[1])
        bx = torch.stack([torch.minimum(boxes_px[..., 0], boxes_px[..., 2]) / ww,
                          torch.minimum(boxes_px[..., 1], boxes_px[..., 3]) / hh,
                          torch.maximum(boxes_px[..., 0], boxes_px[..., 2]) / ww,
                          torch.maximum(boxes_px[..., 1], boxes_px[..., 3]) / hh], dim=2)
        bx = bx.clamp(0.0, 1.0) * (score > 0).float().unsqueeze(2)
        return bx, score, cls


def decode_params(graph):
    """Read top-K, stride and class count from the graph's decode subgraph and check its shape."""
    topk = [n for n in graph.nodes.values() if n["op"] == "TopKV2"]
    if len(topk) != 1:
        raise NotImplementedError("expected one TopKV2 (CenterNet decode)")
    k = int(graph.weights[graph.src(topk[0]["inputs"][1])[0]])
    strides = set()
    for n in graph.nodes.values():   # mul_3..6: cell index (Cast) * stride
        if n["op"] == "Mul" and n["name"].startswith("tower_0/mul_") and \
                graph.nodes[graph.src(n["inputs"][0])[0]]["op"] == "Cast":
            strides.add(float(graph.weights[graph.src(n["inputs"][1])[0]]))
    if len(strides) != 1:
        raise NotImplementedError(f"cannot find a single decode stride: {strides}")
    return k, strides.pop()


# --- labels / words -----------------------------------------------------------------------------

def read_glove_vocab(path):
    with open(path, "rb") as f:
        head = f.read(24)
        if head[:8] != b"I2SWVEC1":
            raise ValueError(f"{path}: not an I2SWVEC1 file")
        _ver, _dim, count, nbytes = struct.unpack("<4I", head[8:24])
        words = f.read(nbytes).decode("utf-8").split("\n")
    return set(words[:count])


def check_words(tsv, labels_ts=None, glove=None):
    rows = []
    for ln in open(tsv, encoding="utf-8"):
        if not ln.strip() or ln.startswith("#"):
            continue
        idx, label, words = ln.rstrip("\n").split("\t")
        rows.append((int(idx), label, words.split()))
    if [r[0] for r in rows] != list(range(len(rows))):
        raise ValueError(f"{tsv}: indices must be 0..N-1 in order")
    if labels_ts:
        src = open(labels_ts, encoding="utf-8").read()
        human = [(int(c), lab) for c, lab in
                 re.findall(r"class:\s*(\d+),\s*label:\s*'([^']*)'", src)]
        if [h[1] for h in human] != [r[1] for r in rows]:
            bad = [(i, r[1], h[1]) for i, (r, h) in enumerate(zip(rows, human)) if r[1] != h[1]]
            raise ValueError(f"{tsv}: labels differ from human's labels.ts: "
                             f"{bad[:5]} (n={len(rows)} vs {len(human)})")
        if [h[0] for h in human] != [r[0] + 1 for r in rows]:
            raise ValueError("labels.ts class numbers are not index + 1")
    missing = []
    if glove:
        vocab = read_glove_vocab(glove)
        missing = [(r[0], w) for r in rows for w in r[2] if w not in vocab]
        if missing:
            raise ValueError(f"{tsv}: words not in {os.path.basename(glove)}: {missing}")
    for r in rows:
        if not r[2]:
            raise ValueError(f"{tsv}: row {r[0]} has no words")
        if any(w != w.lower() for w in r[2]):
            raise ValueError(f"{tsv}: row {r[0]} has upper-case words")
    return rows


# --- images -------------------------------------------------------------------------------------

def tf_resize_bilinear_np(img, oh, ow):
    """tf.image.resizeBilinear(img, [oh, ow]) (align_corners=false, half_pixel_centers=false) on
    float32 HWC, as human calls it; same arithmetic order as the TF.js CPU kernel."""
    img = img.astype(np.float32)
    ih, iw = img.shape[:2]
    r_lo, r_hi, r_fr = legacy_resize_index(ih, oh, False, False)
    c_lo, c_hi, c_fr = legacy_resize_index(iw, ow, False, False)
    cf = np.array(c_fr, np.float32)[None, :, None]
    rf = np.array(r_fr, np.float32)[:, None, None]
    tl, tr = img[r_lo][:, c_lo], img[r_lo][:, c_hi]
    bl, br = img[r_hi][:, c_lo], img[r_hi][:, c_hi]
    top = tl + (tr - tl) * cf
    bot = bl + (br - bl) * cf
    return (top + (bot - top) * rf).astype(np.float32)


def load_rgb(path):
    import cv2
    im = cv2.imread(path, cv2.IMREAD_COLOR)
    if im is None:
        raise ValueError(f"cannot decode {path}")
    return cv2.cvtColor(im, cv2.COLOR_BGR2RGB)


def synthetic_images(n, h, w, seed=1234):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for _ in range(n):
        img = np.zeros((h, w, 3), np.float32)
        for c in range(3):
            fx, fy, ph = rng.uniform(0.005, 0.05, 2).tolist() + [rng.uniform(0, 6.28)]
            img[..., c] = 127 + 100 * np.sin(fx * xx + fy * yy + ph)
        img += rng.normal(0, 10, img.shape)
        out.append(np.clip(img, 0, 255).astype(np.float32))
    return out


def to_nchw(batch_hwc):
    return torch.from_numpy(np.stack(batch_hwc).astype(np.float32)).permute(0, 3, 1, 2) \
        .contiguous()


def resize_graph(graph, h0, w0, h, w, stride):
    """Rewrite the constants the export folded from its h0 x w0 input for an h x w input.

    --input-size N (default 512, the graph's own size: then nothing is rewritten and the file is
    the same as without the option).  The network is fully convolutional, but the TF.js export
    folded the 512x512 input into constants: the FPN's ResizeBilinear output sizes (32, 64, 128),
    the heatmap grid width in the decode (cell // 128, cell % 128, row * 128) and its cell count
    in a Reshape ([16384, 4]).  They become N/16, N/8, N/4; N/4; (N/4)^2 (N a multiple of 32, the
    backbone's stride).  The photo is stretched to N x N and boxes are divided by N; main()'s
    decode check then also checks the rewritten decode subgraph.  The weights are the same; the
    network sees every object smaller.  Square only: the decode's grid constant does not say
    whether it is the width or the height.  -> {const name: (old, new)}."""
    if h0 != w0 or h != w:
        raise NotImplementedError(f"only square inputs: graph {h0}x{w0}, wanted {h}x{w}")
    if h % 32 or h <= 0:
        raise ValueError(f"input size {h}: must be a positive multiple of 32 (backbone stride)")
    g0, g = int(h0 // stride), int(h // stride)   # heatmap grid side, before and after
    changed = {}

    def patch(name, new):
        old = graph.weights[name]
        new = np.array(new, old.dtype).reshape(old.shape)
        if name in changed and not np.array_equal(changed[name][1], new):
            raise NotImplementedError(f"Const {name} would need two values")
        changed[name] = (old, new)

    for n in graph.nodes.values():
        consts = [graph.src(i)[0] for i in n["inputs"]
                  if graph.nodes[graph.src(i)[0]]["op"] == "Const"]
        if n["op"] == "ResizeBilinear":     # FPN 2x upsampling: output size ~ input size
            old = graph.weights[consts[0]].astype(np.int64).reshape(-1)
            if (old[0] * h) % h0 or (old[1] * w) % w0:
                raise ValueError(f"{n['name']}: size {old.tolist()} does not scale to {h}x{w}")
            patch(consts[0], [old[0] * h // h0, old[1] * w // w0])
        elif n["op"] in ("FloorDiv", "FloorMod", "Mul", "Reshape"):   # decode: grid, cell count
            for c in consts:
                v = graph.weights[c]
                if v.dtype.kind not in "iu":
                    continue
                new = np.where(v == g0, g, np.where(v == g0 * g0, g * g, v)) \
                    if n["op"] == "Reshape" else np.where(v == g0, g, v)
                if not np.array_equal(new, v):
                    patch(c, new)
    if h != h0 and not changed:
        raise NotImplementedError("no size constants found: is this the CenterNet graph?")
    for name, (_, new) in changed.items():
        graph.weights[name] = new
    return {name: (old.tolist(), new.tolist()) for name, (old, new) in changed.items()}


def build(json_path, iou=0.4, fuse_hswish=True, input_size=None):
    """-> (detector nn.Module (eager), graph, meta dict).  Importable by the parity check.
    input_size: N for an N x N input (resize_graph); None = the graph's own size."""
    graph = Graph(json_path)
    ph = [n for n in graph.nodes.values() if n["op"] == "Placeholder"]
    if len(ph) != 1 or ph[0]["name"] != TOWER_IN:
        raise ValueError(f"expected one input {TOWER_IN}")
    dims = [int(d.get("size", -1)) for d in ph[0]["attr"]["shape"]["shape"]["dim"]]
    _, H, W, C = dims
    if C != 3:
        raise ValueError(f"input {dims}: expected RGB")
    for o in (HEAT, WH, DETS):
        if o not in graph.nodes:
            raise ValueError(f"output {o} missing")
    k, stride = decode_params(graph)
    resized = None
    if input_size is not None and (input_size, input_size) != (H, W):
        resized = {"graph_input": [H, W],
                   "constants": resize_graph(graph, H, W, input_size, input_size, stride)}
        H = W = input_size
    net = TFJSNet(graph, [HEAT, WH], fuse_hswish=fuse_hswish).eval()
    net.prepare(H, W)
    with torch.no_grad():
        heat, _ = net(torch.zeros(1, 3, H, W))
    num_classes = heat.shape[1]
    if heat.shape[2] * stride != H or heat.shape[3] * stride != W:
        raise ValueError(f"heatmap {tuple(heat.shape)} * stride {stride} != input {H}x{W}")
    det = CenterNetDetector(net, k, stride, num_classes, (H, W), iou).eval()
    meta = {"source": "@vladmandic/human models/centernet.json",
            "input": {"width": W, "height": H, "channels": 3, "layout": "NCHW", "color": "RGB",
                      "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
                      "resize": "stretch (no letterbox); human uses tf.image.resizeBilinear "
                                "align_corners=false half_pixel_centers=false"},
            "outputs": [{"name": "boxes", "shape": [-1, k, 4],
                         "kind": "x_min,y_min,x_max,y_max normalised to the input, clipped"},
                        {"name": "scores", "shape": [-1, k],
                         "kind": "peak score, sorted descending, 0 = suppressed/padding"},
                        {"name": "classes", "shape": [-1, k], "kind": "COCO index 0..79"}],
            "decode": {"top_k_peaks": k, "stride": stride, "num_classes": num_classes,
                       "heatmap": [int(heat.shape[2]), int(heat.shape[3])],
                       "peak_nms": "3x3 max-pool", "nms": "greedy class-agnostic",
                       "iou_threshold": iou},
            "human_defaults": {"minConfidence": 0.2, "iouThreshold": 0.4, "maxDetected": 10},
            "ops": dict(sorted(graph.ops.items())),
            "fused": dict(net.fused)}
    if resized:   # only then: the default file stays byte-for-byte what it was
        meta["resized"] = resized
    return det, graph, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_json")
    ap.add_argument("out_pt")
    ap.add_argument("--meta-json")
    ap.add_argument("--check-images", nargs="*", default=[])
    ap.add_argument("--iou", type=float, default=0.4, help="NMS IoU threshold (human: 0.4)")
    ap.add_argument("--no-fuse-hswish", action="store_true")
    ap.add_argument("--words", help="coco_words.tsv to validate")
    ap.add_argument("--labels-ts", help="human's src/object/labels.ts (label order)")
    ap.add_argument("--glove", help="glove100.i2sv (words must be in its vocabulary)")
    ap.add_argument("--bench", action="store_true",
                    help="time one forward (1 thread): plain vs freeze+optimize_for_inference")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--input-size", type=int, default=512, metavar="N",
                    help="input N x N (multiple of 32; default 512, the graph's own size): the "
                         "size constants of the graph follow N (see resize_graph)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()

    if args.words:
        rows = check_words(args.words, args.labels_ts, args.glove)
        log(f"{os.path.basename(args.words)}: {len(rows)} labels"
            f"{', order = labels.ts' if args.labels_ts else ''}"
            f"{', all words in GloVe' if args.glove else ''}")

    det, graph, meta = build(args.model_json, args.iou, not args.no_fuse_hswish, args.input_size)
    bin_paths = [os.path.join(os.path.dirname(os.path.abspath(args.model_json)), p)
                 for g in graph.model["weightsManifest"] for p in g["paths"]]
    meta["source_sha256"] = sha256(args.model_json)
    meta["weights_sha256"] = [sha256(p) for p in bin_paths]
    meta["converter"] = "tools/assets/convert_centernet.py"
    meta["torch"] = torch.__version__
    H, W = meta["input"]["height"], meta["input"]["width"]
    n_w = sum(int(np.prod(v.shape)) for v in graph.weights.values())
    log(f"parsed {args.model_json}: {len(graph.nodes)} nodes, ops {dict(graph.ops)}")
    log(f"weights: {n_w:,} values ({Counter(str(v.dtype) for v in graph.weights.values())}); "
        f"input {TOWER_IN} [1,{H},{W},3] 0..255 RGB; decode {meta['decode']}")
    for name, (old, new) in meta.get("resized", {}).get("constants", {}).items():
        log(f"input {H}x{W} (graph: {meta['resized']['graph_input']}): {name} {old} -> {new}")
    log(f"interpreter: {len(det.net.steps)} steps, fused {dict(det.net.fused)}; their factor "
        f"6c = 6 * float16(1/6) folded into the next convolutions "
        f"(explicit multiplies left: {det.net.n_materialized})")

    # inputs: synthetic + real photos, preprocessed as human does
    imgs = [(f"synthetic{i}", im) for i, im in enumerate(synthetic_images(3, H, W))]
    for p in args.check_images:
        imgs.append((os.path.basename(p), tf_resize_bilinear_np(load_rgb(p), H, W)))

    # 1. batched decoder == the graph's own decode subgraph (batch 1)
    full = TFJSNet(graph, [DETS], fuse_hswish=not args.no_fuse_hswish).eval()
    full.prepare(H, W)
    worst = 0.0
    det.raw = True
    with torch.no_grad():
        for name, im in imgs:
            ref = full(to_nchw([im]))[0]
            _, _, mine = det(to_nchw([im]))
            if not torch.equal(ref[..., 5], mine[..., 5]):
                raise SystemExit(f"decode check failed on {name}: classes differ")
            d = (ref - mine).abs().max().item()
            worst = max(worst, d)
    if worst > 1e-4:
        raise SystemExit(f"decode check failed: max |diff| {worst:.2e}")
    log(f"batched decoder == graph decode subgraph (tower_0/detections) on {len(imgs)} images, "
        f"max |diff| {worst:.1e}")
    del full

    # 2. trace, save, reload, batch consistency
    det.raw = False
    x_all = to_nchw([im for _, im in imgs])
    with torch.no_grad():
        ref = [det(x_all[i:i + 1]) for i in range(len(imgs))]
        traced = torch.jit.trace(det, x_all[:2], check_trace=False)
    os.makedirs(os.path.dirname(os.path.abspath(args.out_pt)), exist_ok=True)
    tmp = args.out_pt + ".tmp"
    traced.save(tmp, _extra_files={"i2s_meta.json": json.dumps(meta)})
    loaded = torch.jit.load(tmp)
    worst = 0.0
    with torch.no_grad():
        for bs_from, bs_to in ((0, 1), (0, 3), (1, len(imgs))):
            outs = loaded(x_all[bs_from:bs_to])
            for j, i in enumerate(range(bs_from, bs_to)):
                b, s, c = (o[j] for o in outs)
                rb, rs, rc = (o[0] for o in ref[i])
                sel = rs > 0.05
                if not torch.equal(c[sel], rc[sel]):
                    raise SystemExit(f"batch check failed on {imgs[i][0]} (batch {bs_to - bs_from})")
                worst = max(worst, (s - rs).abs().max().item(), (b - rb).abs()[sel].max().item()
                            if sel.any() else 0.0)
    if worst > 1e-4:
        raise SystemExit(f"batch/trace check failed: max |diff| {worst:.2e}")
    b, s, c = loaded(x_all[:1])
    log(f"traced + reloaded; batch 1 / 3 / {len(imgs) - 1} == eager batch 1, max |diff| "
        f"{worst:.1e}; outputs {tuple(b.shape)} {tuple(s.shape)} {tuple(c.shape)}")

    labels = None
    if args.words:
        labels = [r[1] for r in check_words(args.words)]
    with torch.no_grad():
        for i, (name, _) in enumerate(imgs):
            if name.startswith("synthetic"):
                continue
            b, s, c = ref[i]
            keep = (s[0] > 0.3).nonzero().reshape(-1).tolist()
            items = [f"{labels[int(c[0, j])] if labels else int(c[0, j])} {s[0, j]:.2f}"
                     for j in keep]
            log(f"check {name:22s} {', '.join(items) or '(nothing > 0.3)'}")

    if args.bench:
        bench(det, loaded, x_all[:1])

    os.replace(tmp, args.out_pt)
    if args.meta_json:
        with open(args.meta_json, "w") as f:
            json.dump(meta, f, indent=2)
    log(f"wrote {args.out_pt} ({os.path.getsize(args.out_pt) / 1e6:.1f} MB) in "
        f"{time.time() - t0:.1f}s")


def bench(det, traced, x, reps=10):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    def timeit(fn):
        with torch.no_grad():
            for _ in range(3):
                out = fn(x)
            ts = []
            for _ in range(reps):
                t = time.perf_counter()
                fn(x)
                ts.append(time.perf_counter() - t)
        return out, 1000 * float(np.min(ts))
    out_p, t_plain = timeit(traced)
    net_p, t_net = timeit(torch.jit.trace(det.net, x, check_trace=False))
    frozen = torch.jit.freeze(traced.eval())
    opt = torch.jit.optimize_for_inference(frozen)
    out_o, t_opt = timeit(opt)
    d = max((a - b).abs().max().item() for a, b in zip(out_p, out_o))
    ds = (out_p[1] - out_o[1]).abs().max().item()
    log(f"bench (1 thread, best of {reps}): plain traced {t_plain:.1f} ms (network alone "
        f"{t_net:.1f} ms, decode+NMS {t_plain - t_net:.1f} ms); freeze+optimize_for_inference "
        f"{t_opt:.1f} ms; max |diff| optimized vs plain: all outputs {d:.2e}, scores {ds:.2e}")
    torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
