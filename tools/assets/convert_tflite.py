#!/usr/bin/python3
"""Convert a quantized TFLite image classifier (MobileNetV2 1.0/224 quant) to TorchScript.

No TFLite runtime is needed: tflite_reader.py parses the FlatBuffer.  Weights are dequantized
((q - zero_point) * scale, per tensor or per channel; int32 biases * scale) and a generic
interpreter nn.Module replays the operator list in float.  torch.jit.trace unrolls the
interpreter into a static graph, saved as a *plain traced* TorchScript module (no
optimize_for_inference: such a module does not load in C++).

TorchScript contract (the C++ server depends on it):
  input   float32 [B, 3, H, W], NCHW, RGB, normalised as (pixel_0_255 - mean) / std with mean/std
          from the model's input quantization (here real = (q - 128) / 128 -> mean 128, std 128).
  output  tuple (scores, embedding, features):
          scores     float32 [B, num_classes] softmax probabilities (index 0 = background)
          embedding  float32 [B, C] globally average-pooled features feeding the classifier
          features   float32 [B, C, H/32, W/32] the feature map before the global pool.
  method  head(pooled float32 [N, C]) -> float32 [N, num_classes]: the layers after the global
          pool (1x1 conv, softmax).  head(mean of features over a region) scores that region
          without another forward pass (class activation); head(embedding) == scores.
H = W = 224 is what the model was built for; a global average pool whose window covers the whole
feature map is emitted as a mean, so other multiples of 32 also run (not validated).

Validation (printed, failing the conversion when out of bounds):
  * traced vs eager, reloaded file vs eager, batch 1 / 3 vs batch 2 per-image consistency;
  * the float model against an integer emulation of the quantized TFLite graph (uint8
    arithmetic replayed exactly in float64, requantized with the real multipliers), on synthetic
    images and on any --check-images, as evidence the conversion matches the source model.

Usage: convert_tflite.py MODEL.tflite OUT.pt [--meta-json OUT.json] [--check-images IMG...]
"""

import argparse
import hashlib
import json
import os
import sys
import time
from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # keep tools/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tflite_reader import ACTIVATION, PADDING, read_model  # noqa: E402

SUPPORTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D",
             "RESHAPE", "SQUEEZE", "SOFTMAX", "FULLY_CONNECTED", "RELU", "RELU6",
             "QUANTIZE", "DEQUANTIZE", "MEAN"}


def log(msg):
    print(f"[convert_tflite] {msg}", flush=True)


def dequantize(t):
    """Constant tensor -> float32 numpy array."""
    if t.data is None:
        raise ValueError(f"tensor {t.name} has no constant data")
    d = t.data
    if d.dtype == np.float32:
        return d.astype(np.float32)
    if t.quant is None:
        raise ValueError(f"tensor {t.name}: integer data without quantization")
    scale, zp = t.quant.scale.astype(np.float64), t.quant.zero_point.astype(np.float64)
    if t.quant.per_channel:
        shape = [1] * d.ndim
        shape[t.quant.quantized_dimension] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return ((d.astype(np.float64) - zp) * scale).astype(np.float32)


def same_pad(size, k, stride, dil):
    """TFLite/TensorFlow SAME padding: (before, after); the extra pixel goes after."""
    out = (size + stride - 1) // stride
    eff = (k - 1) * dil + 1
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


def o_dil(options, axis):
    return options.get(f"dilation_{axis}_factor", options.get(f"dilation_{axis}", 1)) or 1


def activation(x, code):
    name = ACTIVATION.get(code, str(code))
    if name == "NONE":
        return x
    if name == "RELU6":
        return F.relu6(x)  # aten::hardtanh: fused with the conv by optimize_for_inference
    if name == "RELU":
        return F.relu(x)
    if name == "RELU_N1_TO_1":
        return x.clamp(-1.0, 1.0)
    if name == "TANH":
        return torch.tanh(x)
    raise NotImplementedError(f"fused activation {name}")


class TFLiteNet(torch.nn.Module):
    """Interprets the TFLite operator list in float.  4-D activations are kept NCHW."""

    def __init__(self, model, embedding_tensor):
        super().__init__()
        self.m = model
        self.plan = []   # (op, inputs, outputs, options, static info)
        self.input_index = model.inputs[0]
        self.output_index = model.outputs[0]
        self.embedding_index = embedding_tensor
        self.head_start = None  # plan position of the first op after the global pool
        self.ranks = {}  # tensor index -> rank
        for i in model.inputs:
            self.ranks[i] = len(model.tensors[i].shape)
        for op in model.operators:
            if op.op not in SUPPORTED:
                raise NotImplementedError(
                    f"operator #{op.index} {op.op} is not supported by convert_tflite.py")
            info = {}
            T = model.tensors
            if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                w = dequantize(T[op.inputs[1]])
                if op.op == "CONV_2D":            # [out, kh, kw, in] -> [out, in, kh, kw]
                    w = w.transpose(0, 3, 1, 2)
                elif op.op == "DEPTHWISE_CONV_2D":  # [1, kh, kw, out] -> [out, 1, kh, kw]
                    w = w.transpose(3, 0, 1, 2)
                if op.op != "FULLY_CONNECTED":
                    in_shape = T[op.inputs[0]].shape  # NHWC
                    l, r, t, b_ = self._pads(op.options, in_shape, w.shape[2], w.shape[3])
                    # TF SAME puts the odd padding pixel after. Instead of an
                    # explicit pad (which makes optimize_for_inference leave
                    # MKLDNN for every padded layer: 19 -> ~12 ms), give the
                    # kernel a leading zero row/column and pad symmetrically
                    # by before+1: sum_j w'[j] x[s*i - (before+1) + j] with
                    # w'[0] = 0, w'[j] = w[j-1] is exactly TF's window.
                    if b_ == t + 1 and o_dil(op.options, "h") == 1:
                        w = np.pad(w, ((0, 0), (0, 0), (1, 0), (0, 0)))
                        t = b_
                    if r == l + 1 and o_dil(op.options, "w") == 1:
                        w = np.pad(w, ((0, 0), (0, 0), (0, 0), (1, 0)))
                        l = r
                    info["pad"] = (l, r, t, b_)
                self.register_buffer(f"w{op.index}", torch.from_numpy(np.ascontiguousarray(w)))
                if len(op.inputs) > 2 and op.inputs[2] >= 0:
                    b = dequantize(T[op.inputs[2]])
                    self.register_buffer(f"b{op.index}", torch.from_numpy(b.copy()))
                    info["bias"] = True
                if op.op == "DEPTHWISE_CONV_2D":
                    in_c = T[op.inputs[0]].shape[3]
                    if w.shape[0] != in_c * max(op.options.get("depth_multiplier", 1), 1):
                        raise ValueError(f"op {op.index}: depthwise channels mismatch")
                    info["groups"] = in_c
            elif op.op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
                in_shape = T[op.inputs[0]].shape
                o = op.options
                kh, kw = o["filter_height"], o["filter_width"]
                info["global"] = (op.op == "AVERAGE_POOL_2D" and PADDING[o["padding"]] == "VALID"
                                  and (kh, kw) == (in_shape[1], in_shape[2]))
                info["pad"] = self._pads(o, in_shape, kh, kw)
            elif op.op in ("RESHAPE", "SQUEEZE"):
                info["shape"] = list(T[op.outputs[0]].shape)
            elif op.op == "MEAN":
                axes = T[op.inputs[1]].data
                if axes is None or sorted(int(a) for a in axes.reshape(-1)) != [1, 2]:
                    raise NotImplementedError(f"op {op.index}: MEAN only over H, W")
            for o_ in op.outputs:
                self.ranks[o_] = len(T[o_].shape)
            if embedding_tensor in op.inputs and self.head_start is None:
                self.head_start = len(self.plan)
            self.plan.append((op.index, op.op, list(op.inputs), list(op.outputs),
                              dict(op.options), info))

        if self.head_start is None:
            raise ValueError("no operator reads the embedding tensor")
        pool = [p for p in self.plan if embedding_tensor in p[3]]
        if not pool or not (pool[0][1] == "MEAN" or pool[0][5].get("global")):
            raise ValueError("the embedding tensor is not the output of a global pool")
        self.pool_input = pool[0][2][0]

    @staticmethod
    def _pads(o, in_shape, kh, kw):
        sh, sw = o.get("stride_h", 1), o.get("stride_w", 1)
        dh, dw = o.get("dilation_h", 1), o.get("dilation_w", 1)
        if PADDING.get(o.get("padding", 1)) == "SAME":
            t, b = same_pad(in_shape[1], kh, sh, dh)
            l, r = same_pad(in_shape[2], kw, sw, dw)
        else:
            t = b = l = r = 0
        return (l, r, t, b)

    def forward(self, x):
        env = self._run({self.input_index: x}, 0, len(self.plan))
        scores = self._scores(env)
        emb = env[self.embedding_index]
        features = env[self.pool_input]
        if emb.dim() == 4:
            emb = emb.mean(dim=(2, 3))   # already 1x1 for MobileNetV2; mean keeps it robust
        return scores, emb, features

    def head(self, pooled):
        """Pooled features [N, C] -> scores [N, classes]: the ops after the global pool."""
        env = self._run({self.embedding_index: pooled[:, :, None, None]}, self.head_start,
                        len(self.plan))
        return self._scores(env)

    def _scores(self, env):
        scores = env[self.output_index]
        if scores.dim() == 4:
            scores = scores.permute(0, 2, 3, 1)
        return scores.reshape(scores.shape[0], -1)

    def _run(self, env, start, end):
        for idx, op, ins, outs, o, info in self.plan[start:end]:
            a = env[ins[0]]
            if op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                l, r, t, b = info["pad"]
                padding = (0, 0)
                if l == r and t == b:
                    padding = (t, l)  # symmetric: let the convolution pad
                elif l or r or t or b:
                    a = F.pad(a, (l, r, t, b))  # TF SAME, extra pixel after
                w = getattr(self, f"w{idx}")
                bias = getattr(self, f"b{idx}") if info.get("bias") else None
                y = F.conv2d(a, w, bias, stride=(o["stride_h"], o["stride_w"]),
                             padding=padding,
                             dilation=(o.get("dilation_h", 1), o.get("dilation_w", 1)),
                             groups=info.get("groups", 1))
                y = activation(y, o["fused_activation_function"])
            elif op == "FULLY_CONNECTED":
                w = getattr(self, f"w{idx}")
                bias = getattr(self, f"b{idx}") if info.get("bias") else None
                if a.dim() == 4:
                    a = a.permute(0, 2, 3, 1)
                y = F.linear(a.reshape(-1, w.shape[1]), w, bias)
                y = activation(y, o["fused_activation_function"])
            elif op == "ADD":
                y = activation(a + env[ins[1]], o["fused_activation_function"])
            elif op == "AVERAGE_POOL_2D" and info["global"]:
                y = a.mean(dim=(2, 3), keepdim=True)
                y = activation(y, o["fused_activation_function"])
            elif op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
                l, r, t, b = info["pad"]
                k = (o["filter_height"], o["filter_width"])
                s = (o["stride_h"], o["stride_w"])
                if op == "MAX_POOL_2D":
                    if l or r or t or b:
                        a = F.pad(a, (l, r, t, b), value=float("-inf"))
                    y = F.max_pool2d(a, k, s)
                else:  # TFLite averages over valid (unpadded) pixels only
                    if l or r or t or b:
                        ones = torch.ones_like(a[:, :1])
                        num = F.avg_pool2d(F.pad(a, (l, r, t, b)), k, s)
                        den = F.avg_pool2d(F.pad(ones, (l, r, t, b)), k, s)
                        y = num / den
                    else:
                        y = F.avg_pool2d(a, k, s)
                y = activation(y, o["fused_activation_function"])
            elif op in ("RESHAPE", "SQUEEZE"):
                shape = info["shape"]
                if a.dim() == 4:
                    a = a.permute(0, 2, 3, 1)          # back to TFLite's NHWC order
                y = a.reshape([-1] + shape[1:])        # batch stays dynamic
                if len(shape) == 4:
                    y = y.permute(0, 3, 1, 2)
            elif op == "SOFTMAX":
                dim = 1 if a.dim() == 4 else -1
                y = torch.softmax(a * o.get("beta", 1.0), dim=dim)
            elif op == "MEAN":
                y = a.mean(dim=(2, 3), keepdim=bool(o.get("keep_dims", False)))
            elif op == "RELU6":
                y = a.clamp(0.0, 6.0)
            elif op == "RELU":
                y = F.relu(a)
            elif op in ("QUANTIZE", "DEQUANTIZE"):
                y = a                                  # float simulation: identity
            else:
                raise NotImplementedError(op)
            env[outs[0]] = y
        return env


# --- integer emulation of the quantized graph (validation only) ---------------------------

class QuantEmulator:
    """Replays the uint8 TFLite graph: integer products/sums are exact in float64, outputs are
    requantized with the real multiplier (TFLite uses a fixed-point multiplier; results may
    differ by one LSB occasionally)."""

    def __init__(self, model):
        self.m = model

    def _q(self, i):
        q = self.m.tensors[i].quant
        return float(q.scale[0]), int(q.zero_point[0])

    def _requant(self, real, i, act):
        s, z = self._q(i)
        lo, hi = 0.0, 255.0
        name = ACTIVATION.get(act, "NONE")
        if name == "RELU6":
            lo, hi = max(lo, z + round(0.0 / s)), min(hi, z + round(6.0 / s))
        elif name == "RELU":
            lo = max(lo, float(z))
        elif name != "NONE":
            raise NotImplementedError(name)
        return torch.clamp(torch.round(real / s) + z, lo, hi)

    def run(self, q_nhwc_uint8):
        m, T = self.m, self.m.tensors
        for i in list(m.inputs) + list(m.outputs):
            if T[i].type_name != "UINT8":
                raise NotImplementedError("emulation needs a uint8 graph")
        x = torch.from_numpy(q_nhwc_uint8.astype(np.float64)).permute(0, 3, 1, 2)
        env = {m.inputs[0]: x}
        for op in m.operators:
            a = env[op.inputs[0]]
            o = op.options
            if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                sx, zx = self._q(op.inputs[0])
                wt = T[op.inputs[1]]
                if wt.quant.per_channel:
                    raise NotImplementedError("per-channel emulation")
                sw, zw = float(wt.quant.scale[0]), int(wt.quant.zero_point[0])
                w = torch.from_numpy(wt.data.astype(np.float64) - zw)
                w = w.permute(0, 3, 1, 2) if op.op == "CONV_2D" else w.permute(3, 0, 1, 2)
                b = torch.from_numpy(T[op.inputs[2]].data.astype(np.float64))
                kh, kw = w.shape[2], w.shape[3]
                l, r, t, bb = TFLiteNet._pads(o, T[op.inputs[0]].shape, kh, kw)
                xa = F.pad(a - zx, (l, r, t, bb))      # padding holds the zero point
                groups = a.shape[1] if op.op == "DEPTHWISE_CONV_2D" else 1
                acc = F.conv2d(xa, w, b, stride=(o["stride_h"], o["stride_w"]), groups=groups)
                y = self._requant(acc * (sx * sw), op.outputs[0], o["fused_activation_function"])
            elif op.op == "ADD":
                s1, z1 = self._q(op.inputs[0])
                s2, z2 = self._q(op.inputs[1])
                real = (a - z1) * s1 + (env[op.inputs[1]] - z2) * s2
                y = self._requant(real, op.outputs[0], o["fused_activation_function"])
            elif op.op == "AVERAGE_POOL_2D":
                if PADDING[o["padding"]] != "VALID":
                    raise NotImplementedError("SAME avg pool emulation")
                k = (o["filter_height"], o["filter_width"])
                n = k[0] * k[1]
                sums = F.avg_pool2d(a, k, (o["stride_h"], o["stride_w"])) * n
                y = torch.floor((sums + n // 2) / n)  # TFLite: (sum + n/2) / n
            elif op.op in ("RESHAPE", "SQUEEZE"):
                if a.dim() == 4:
                    a = a.permute(0, 2, 3, 1)
                y = a.reshape([-1] + list(T[op.outputs[0]].shape[1:]))
            elif op.op == "SOFTMAX":
                s, z = self._q(op.inputs[0])
                p = torch.softmax((a - z) * s * o.get("beta", 1.0), dim=-1)
                so, zo = self._q(op.outputs[0])
                y = torch.clamp(torch.round(p / so) + zo, 0, 255)
            else:
                raise NotImplementedError(f"emulation of {op.op}")
            env[op.outputs[0]] = y
        so, zo = self._q(m.outputs[0])
        return ((env[m.outputs[0]] - zo) * so).float()


# --- helpers ----------------------------------------------------------------------------------

def find_embedding_tensor(model):
    """Input of the classifier (1x1 conv / FC) that feeds the softmax, via reshapes."""
    producer = {o: op for op in model.operators for o in op.outputs}
    op = producer.get(model.outputs[0])
    while op is not None and op.op in ("SOFTMAX", "RESHAPE", "SQUEEZE", "QUANTIZE",
                                       "DEQUANTIZE"):
        op = producer.get(op.inputs[0])
    if op is None or op.op not in ("CONV_2D", "FULLY_CONNECTED"):
        raise ValueError("cannot locate the classifier layer feeding the softmax")
    return op.inputs[0]


def input_normalisation(model):
    t = model.tensors[model.inputs[0]]
    if t.type_name == "FLOAT32" or t.quant is None:
        raise ValueError("float-input model: pass mean/std yourself")
    scale, zp = float(t.quant.scale[0]), float(t.quant.zero_point[0])
    # real = scale * (q - zp)  ==  (q - mean) / std
    return zp, 1.0 / scale


def load_image(path, width, height):
    import cv2
    im = cv2.imread(path, cv2.IMREAD_COLOR)
    if im is None:
        raise ValueError(f"cannot decode {path}")
    im = cv2.cvtColor(im, cv2.COLOR_BGR2RGB)
    return cv2.resize(im, (width, height), interpolation=cv2.INTER_AREA)  # HWC uint8


def synthetic_images(n, h, w, seed=1234):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for _ in range(n):
        img = np.zeros((h, w, 3), np.float32)
        for c in range(3):
            fx, fy, ph = rng.uniform(0.01, 0.08, 2).tolist() + [rng.uniform(0, 6.28)]
            img[..., c] = 127 + 100 * np.sin(fx * xx + fy * yy + ph)
        img += rng.normal(0, 20, img.shape)
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tflite")
    ap.add_argument("out_pt")
    ap.add_argument("--meta-json", help="write input size / mean / std / dims as JSON here")
    ap.add_argument("--check-images", nargs="*", default=[],
                    help="images to compare float model vs integer emulation on")
    ap.add_argument("--labels", help="labels file, only to print names in checks")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()

    model = read_model(args.tflite)
    ops = Counter(o.op for o in model.operators)
    log(f"parsed {args.tflite}: schema v{model.version}, {len(model.tensors)} tensors, "
        f"{len(model.operators)} operators {dict(ops)}")
    tin, tout = model.tensors[model.inputs[0]], model.tensors[model.outputs[0]]
    log(f"input  {tin.name} {tin.shape} {tin.type_name} "
        f"scale={tin.quant.scale[0] if tin.quant else None} zp={tin.quant.zero_point[0] if tin.quant else None}")
    log(f"output {tout.name} {tout.shape} {tout.type_name}")
    _, H, W, C = tin.shape
    if C != 3:
        raise ValueError("expected an RGB input")
    mean, std = input_normalisation(model)
    log(f"input normalisation: (pixel - {mean:g}) / {std:g}")
    emb_idx = find_embedding_tensor(model)
    et = model.tensors[emb_idx]
    log(f"embedding tensor: #{emb_idx} {et.name} {et.shape}")

    net = TFLiteNet(model, emb_idx).eval()
    n_params = sum(b.numel() for b in net.buffers())
    log(f"float model: {n_params:,} weights/biases dequantized")

    def to_input(batch_u8):  # list of HWC uint8 -> NCHW float normalised
        x = torch.from_numpy(np.stack(batch_u8)).permute(0, 3, 1, 2).float()
        return (x - mean) / std

    synth = synthetic_images(3, H, W)
    with torch.no_grad():
        example = to_input(synth[:2])
        traced = torch.jit.trace_module(
            net, {"forward": example, "head": net(example)[1]}, check_trace=False)
        ref_s, ref_e, ref_f = net(to_input(synth))
        tr_s, tr_e, tr_f = traced(to_input(synth))
        # head(pooled features of the whole map) is the whole image's scores;
        # head(a region's pooled features) is that region's (class activation).
        head_s = traced.head(ref_f.mean(dim=(2, 3)))
        corner = traced.head(ref_f[:, :, :ref_f.shape[2] // 2, :ref_f.shape[3] // 2]
                             .mean(dim=(2, 3)))
    d_trace = max((tr_s - ref_s).abs().max().item(), (tr_e - ref_e).abs().max().item(),
                  (tr_f - ref_f).abs().max().item())
    d_head = (head_s - ref_s).abs().max().item()
    log(f"traced (batch 2); traced vs eager on batch 3: max |diff| {d_trace:.2e}; "
        f"head(mean of features) vs scores: {d_head:.2e}; feature map {tuple(ref_f.shape[1:])}")
    num_classes, emb_dim = ref_s.shape[1], ref_e.shape[1]
    assert ref_s.shape == (3, num_classes) and ref_e.shape == (3, emb_dim)
    assert ref_f.shape[:2] == (3, emb_dim), ref_f.shape
    assert abs(ref_s.sum(1) - 1).max() < 1e-4, "scores are not probabilities"
    assert abs(corner.sum(1) - 1).max() < 1e-4, "head scores are not probabilities"
    assert d_trace < 1e-4 and d_head < 1e-4

    os.makedirs(os.path.dirname(os.path.abspath(args.out_pt)), exist_ok=True)
    meta = {"source": os.path.basename(args.tflite), "source_sha256": sha256(args.tflite),
            "input": {"width": W, "height": H, "channels": 3, "layout": "NCHW", "color": "RGB",
                      "mean": [mean] * 3, "std": [std] * 3},
            "outputs": [{"name": "scores", "shape": [-1, num_classes], "kind": "softmax"},
                        {"name": "embedding", "shape": [-1, emb_dim], "kind": "avgpool"},
                        {"name": "features", "shape": [-1, emb_dim, -1, -1], "kind": "map"}],
            "methods": [{"name": "head", "input": [-1, emb_dim], "output": [-1, num_classes]}],
            "converter": "tools/assets/convert_tflite.py", "torch": torch.__version__}
    tmp = args.out_pt + ".tmp"
    traced.save(tmp, _extra_files={"i2s_meta.json": json.dumps(meta)})

    # reload and check batch-size independence
    loaded = torch.jit.load(tmp)
    with torch.no_grad():
        for bs in (1, 3):
            s, e, _ = loaded(to_input(synth[:bs]))
            assert s.shape == (bs, num_classes) and e.shape == (bs, emb_dim), (s.shape, e.shape)
            d = max((s - ref_s[:bs]).abs().max().item(), (e - ref_e[:bs]).abs().max().item())
            log(f"reloaded, batch {bs}: shapes {tuple(s.shape)} {tuple(e.shape)}, "
                f"max |diff| vs eager {d:.2e}")
            assert d < 1e-4, "batch consistency failed"

    # float model vs integer emulation of the quantized graph
    labels = None
    if args.labels:
        labels = [ln.rstrip("\n") for ln in open(args.labels, encoding="utf-8")]
    imgs = [(f"synthetic{i}", im) for i, im in enumerate(synth)]
    for p in args.check_images:
        imgs.append((os.path.basename(p), load_image(p, W, H)))
    emu = QuantEmulator(model)
    agree5 = 0
    bad = []
    worst = 0.0
    real_top1 = real_imgs = 0
    for name, im in imgs:
        with torch.no_grad():
            s, _, _ = net(to_input([im]))
            q = emu.run(im[None])
        s, q = s[0], q[0]
        diff = (s - q).abs().max().item()
        f5 = s.topk(5).indices.tolist()
        q1 = int(q.argmax())
        ok = q1 in f5
        agree5 += ok
        if not ok:
            bad.append(name)
        if not name.startswith("synthetic"):
            worst = max(worst, diff)
            real_imgs += 1
            real_top1 += int(s.argmax()) == q1
        lab = (lambda i: labels[i] if labels else str(i))
        log(f"check {name:24s} float top1 {lab(f5[0])!r} {s[f5[0]]:.3f} | quant-emulated top1 "
            f"{lab(q1)!r} {q[q1]:.3f} | max |p diff| {diff:.3f}")
    log(f"float vs quant emulation: quant top1 within float top5 for {agree5}/{len(imgs)} images; "
        f"real images top1 agreement {real_top1}/{real_imgs}, worst |p diff| {worst:.3f}")
    real_bad = [b for b in bad if not b.startswith("synthetic")]
    if real_bad or worst > 0.25:
        raise SystemExit(f"conversion check failed: float and quantized predictions disagree "
                         f"on {real_bad or 'probabilities'} (worst |p diff| {worst:.3f})")
    if bad:
        log(f"warning: disagreement on synthetic images {bad} (noise images are ambiguous)")

    os.replace(tmp, args.out_pt)
    if args.meta_json:
        with open(args.meta_json, "w") as f:
            json.dump(meta, f, indent=2)
    log(f"wrote {args.out_pt} ({os.path.getsize(args.out_pt) / 1e6:.1f} MB) in "
        f"{time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
