#!/usr/bin/python3
"""Convert human's face detector (BlazeFace) and expression classifier (emotion) to TorchScript.

Sources: npm @vladmandic/human 3.3.6 (MIT), TF.js graph models
  models/blazeface.json + .bin  generatedBy https://github.com/google/mediapipe (BlazeFace,
                                Apache-2.0), the 256 px "back" variant;
  models/emotion.json + .bin    generatedBy https://github.com/oarriaga/face_classification
                                (mini-Xception trained on FER2013; see tools/assets/README.md).
The graphs are read and replayed by the interpreter of tools/assets/convert_centernet.py (no
TensorFlow needed).

What human does with them (src/face/blazeface.ts, facemeshutil.ts, gear/emotion.ts, config.ts;
face mesh off, as this service runs them):
  * detector input: float32 RGB 0..255, tf.image.resizeBilinear to 256x256 (stretched, no
    letterbox; config face.detector.square is off), then x / 127.5 - 1, NHWC;
  * outputs: 4 heads, [1,512,1] and [1,384,1] score logits, [1,512,16] and [1,384,16]
    regressors, concatenated as rows [896, 17] (512 anchors of the 16x16 grid, 2 per cell, then
    384 of the 8x8 grid, 6 per cell; anchor centre = stride * (cell + 0.5) px);
  * decode: score = sigmoid(logit); centre = reg[1:3] + anchor, size = reg[3:5] (input px);
    box = centre -+ size / 2; 6 landmarks = reg[5:17] + anchor;
  * tf.image.nonMaxSuppression over all 896 (maxDetected, iouThreshold 0.1, minConfidence 0.2:
    score > 0.2, dropped when IoU >= 0.1 with a kept one);
  * box to image pixels (x * W / 256, y * H / 256), enlarged 1.4x about its centre, made square
    (side = the larger side, rounded), cropped with tf.image.cropAndResize to 256x256 (zero
    outside the image) and / 255;
  * emotion: that crop resized (resizeBilinear, align_corners=false) to 64x64, grey =
    0.2989 R + 0.5870 G + 0.1140 B, (grey - 0.5) * 2, [N,64,64,1] -> softmax [N,7] in human's
    order: angry, disgust, fear, happy, sad, surprise, neutral.

TorchScript contracts (the C++ "faces" tagger depends on them):
  faces.pt    input  float32 [B,3,256,256] NCHW RGB, (pixel - 127.5) / 127.5;
              output (boxes [B,K,4], scores [B,K], classes [B,K], landmarks [B,K,6,2]), K = 100:
                boxes     (x_min, y_min, x_max, y_max) / 256, NOT clipped and NOT enlarged (the
                          caller enlarges and squares in image pixels, as human does);
                scores    sigmoid scores of the K best anchors after human's greedy NMS (IoU
                          >= --iou, default 0.1), sorted descending; 0 (and box 0) for
                          suppressed ones;
                classes   0 (one class, "face": the file is also a plain "detector");
                landmarks 6 points (eyes, nose, mouth, ears) / 256.
              Thresholding at any t >= 0 and keeping the first n equals human's detections
              with minConfidence t and maxDetected n when at most K anchors score above t.
  emotion.pt  input  float32 [N,3,64,64] NCHW RGB, (pixel - 0) / 255 (0..1, as human's crop);
              output probabilities [N,7] (softmax), human's label order above.
Both carry i2s_meta.json (torch::jit::load(path, device, extra_files)); plain torch.jit.trace.

Validation (fails the conversion when out of bounds): each module against the graph itself
interpreted for batch 1 (the detector's four output heads and the emotion softmax, on synthetic
images and --check-images), the batched decoder + NMS against a numpy replica of human's
getBoxes() (decode, NMS over all 896 anchors), traced vs eager, the reloaded files, batch 1 / 3 vs
batch 2.  The parity against TF.js itself is tools/assets/check_faces_parity.py.

Usage: convert_faces.py HUMAN_MODELS_DIR OUT_DIR [--meta-json PREFIX] [--check-images IMG...]
         [--words emotion_words.tsv --glove glove100.i2sv] [--bench]
"""

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_centernet as cc  # noqa: E402  (TF.js graph reader and interpreter)

warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)

EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]   # gear/emotion.ts
GREY = [0.2989, 0.5870, 0.1140]   # human's constants.rgb
TOP_K = 100


def log(msg):
    print(f"[convert_faces] {msg}", flush=True)


def placeholder(graph):
    ph = [n for n in graph.nodes.values() if n["op"] == "Placeholder"]
    if len(ph) != 1:
        raise ValueError("expected one input")
    dims = [int(d.get("size", -1)) for d in ph[0]["attr"]["shape"]["shape"]["dim"]]
    return ph[0]["name"], dims


def anchors_256(size):
    """human's generateAnchors(inputSize) for BlazeFace (not the 192 px facemesh detector)."""
    out = []
    for stride, per_cell in ((size // 16, 2), (size // 8, 6)):
        cells = (size + stride - 1) // stride
        for gy in range(cells):
            for gx in range(cells):
                out += [[stride * (gx + 0.5), stride * (gy + 0.5)]] * per_cell
    return np.array(out, np.float32)


# --- the detector -----------------------------------------------------------------------------

class FaceDetector(torch.nn.Module):
    """BlazeFace network (the graph up to its four heads) + human's decode + greedy NMS."""

    def __init__(self, net, anchors, input_hw, top_k, iou_threshold):
        super().__init__()
        self.net = net
        self.register_buffer("anchors", torch.from_numpy(anchors))      # [896, 2] input px
        self.input_hw = input_hw
        self.top_k = top_k
        self.iou_threshold = float(iou_threshold)
        self.raw = False   # True: return the [B, 896, 17] rows (checks)

    def rows(self, x):
        """The graph's heads as human concatenates them: [B, 896, 17] (logit, 16 regressors)."""
        c16, r16, c8, r8 = self.net(x)   # NCHW: [B,2,16,16] [B,32,16,16] [B,6,8,8] [B,96,8,8]
        b = x.shape[0]

        def nhwc(t, last):
            return t.permute(0, 2, 3, 1).reshape(b, -1, last)
        big = torch.cat([nhwc(c16, 1), nhwc(r16, 16)], dim=2)
        small = torch.cat([nhwc(c8, 1), nhwc(r8, 16)], dim=2)
        return torch.cat([big, small], dim=1)

    def forward(self, x):
        r = self.rows(x)
        if self.raw:
            return r
        h, w = float(self.input_hw[0]), float(self.input_hw[1])
        score = torch.sigmoid(r[..., 0])
        centre = r[..., 1:3] + self.anchors
        half = r[..., 3:5] / 2.0
        boxes = torch.cat([centre - half, centre + half], dim=2)
        marks = r[..., 5:17].reshape(r.shape[0], r.shape[1], 6, 2) + self.anchors.unsqueeze(1)
        score, idx = torch.topk(score, self.top_k, dim=1, largest=True, sorted=True)
        boxes = torch.gather(boxes, 1, idx.unsqueeze(2).expand(-1, -1, 4))
        marks = torch.gather(marks, 1, idx.view(idx.shape[0], -1, 1, 1).expand(-1, -1, 6, 2))
        keep = cc.greedy_nms_keep(boxes, self.iou_threshold)
        score = torch.where(keep, score, torch.zeros_like(score))
        order = torch.sort(score, dim=1, descending=True, stable=True).indices
        score = torch.gather(score, 1, order)
        boxes = torch.gather(boxes, 1, order.unsqueeze(2).expand(-1, -1, 4))
        marks = torch.gather(marks, 1, order.view(order.shape[0], -1, 1, 1).expand(-1, -1, 6, 2))
        live = (score > 0).float()
        scale = torch.tensor([w, h, w, h])
        boxes = boxes / scale * live.unsqueeze(2)
        marks = marks / scale[:2] * live.view(live.shape[0], -1, 1, 1)
        return boxes, score, torch.zeros_like(score), marks


def detector_heads(graph):
    """The four convolutions feeding the graph's Reshape -> Identity outputs, in the order
    (scores 16x16, regressors 16x16, scores 8x8, regressors 8x8), and the Identity names."""
    heads = {}
    for o in ("Identity", "Identity_1", "Identity_2", "Identity_3"):
        rs = graph.nodes[graph.src(graph.nodes[o]["inputs"][0])[0]]
        if rs["op"] != "Reshape":
            raise NotImplementedError(f"{o}: expected a Reshape before it")
        shape = [int(v) for v in graph.weights[graph.src(rs["inputs"][1])[0]].reshape(-1)]
        heads[(shape[1], shape[2])] = (graph.src(rs["inputs"][0])[0], o)
    want = [(512, 1), (512, 16), (384, 1), (384, 16)]
    if sorted(heads) != sorted(want):
        raise NotImplementedError(f"unexpected BlazeFace heads {sorted(heads)}")
    return [heads[k][0] for k in want], [heads[k][1] for k in want]


def build_detector(json_path, iou=0.1, top_k=TOP_K):
    graph = cc.Graph(json_path)
    name, (_, h, w, c) = placeholder(graph)
    if c != 3 or h != w:
        raise ValueError(f"detector input {h}x{w}x{c}: expected square RGB")
    conv_heads, outputs = detector_heads(graph)
    net = cc.TFJSNet(graph, conv_heads, fuse_hswish=False, input_name=name).eval()
    net.prepare(h, w)
    anchors = anchors_256(h)
    det = FaceDetector(net, anchors, (h, w), top_k, iou).eval()
    meta = {"source": "@vladmandic/human models/blazeface.json",
            "generated_by": graph.model.get("generatedBy"),
            "input": {"width": w, "height": h, "channels": 3, "layout": "NCHW", "color": "RGB",
                      "mean": [127.5] * 3, "std": [127.5] * 3,
                      "resize": "stretch (no letterbox); human uses tf.image.resizeBilinear "
                                "align_corners=false half_pixel_centers=false"},
            "outputs": [{"name": "boxes", "shape": [-1, top_k, 4],
                         "kind": "x_min,y_min,x_max,y_max / input size, not clipped, "
                                 "not enlarged"},
                        {"name": "scores", "shape": [-1, top_k],
                         "kind": "sigmoid score, sorted descending, 0 = suppressed"},
                        {"name": "classes", "shape": [-1, top_k], "kind": "0 (face)"},
                        {"name": "landmarks", "shape": [-1, top_k, 6, 2],
                         "kind": "x,y / input size"}],
            "decode": {"anchors": int(len(anchors)), "top_k": top_k, "nms": "greedy",
                       "iou_threshold": iou},
            "human_defaults": {"minConfidence": 0.2, "iouThreshold": 0.1, "maxDetected": 1,
                               "scale": 1.4, "square crop": True, "crop": h},
            "ops": dict(sorted(graph.ops.items()))}
    return det, graph, outputs, meta


def human_get_boxes(rows, input_size, anchors, min_conf=0.2, iou=0.1, max_detected=100):
    """numpy replica of human's decodeBoxes + tf.image.nonMaxSuppression (rows: [896, 17]).
    Returns [(score, x0, y0, x1, y1 in input px)]."""
    r = rows.astype(np.float64)
    centre = r[:, 1:3] + anchors
    size = r[:, 3:5]
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    scores = 1 / (1 + np.exp(-np.clip(r[:, 0], -80, 80)))
    order = [i for i in np.argsort(-scores, kind="stable") if scores[i] > min_conf]
    kept = []

    def iou_of(a, b):
        ax0, ax1 = sorted((a[0], a[2]))
        ay0, ay1 = sorted((a[1], a[3]))
        bx0, bx1 = sorted((b[0], b[2]))
        by0, by1 = sorted((b[1], b[3]))
        area_a, area_b = (ax1 - ax0) * (ay1 - ay0), (bx1 - bx0) * (by1 - by0)
        if area_a <= 0 or area_b <= 0:
            return 0.0
        iw = max(min(ax1, bx1) - max(ax0, bx0), 0)
        ih = max(min(ay1, by1) - max(ay0, by0), 0)
        return iw * ih / (area_a + area_b - iw * ih)
    for i in order:
        if len(kept) >= max_detected:
            break
        if all(iou_of(boxes[i], boxes[j]) < iou for j in kept):
            kept.append(i)
    return [(float(scores[i]), *boxes[i].tolist()) for i in kept]


# --- the expression classifier ------------------------------------------------------------------

class EmotionClassifier(torch.nn.Module):
    """RGB 0..1 crops -> human's grey input -> mini-Xception -> softmax [N, 7]."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.register_buffer("grey", torch.tensor(GREY, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x):
        g = (x * self.grey).sum(dim=1, keepdim=True)
        return self.net((g - 0.5) * 2.0)[0]


def build_emotion(json_path):
    graph = cc.Graph(json_path)
    name, (_, h, w, c) = placeholder(graph)
    if c != 1:
        raise ValueError(f"emotion input has {c} channels: expected grey (the oarriaga model)")
    net = cc.TFJSNet(graph, ["Identity"], fuse_hswish=False, input_name=name).eval()
    net.prepare(h, w, channels=1)
    with torch.no_grad():
        n = net(torch.zeros(1, 1, h, w))[0].shape[1]
    if n != len(EMOTIONS):
        raise ValueError(f"emotion model has {n} outputs, expected {len(EMOTIONS)}")
    model = EmotionClassifier(net).eval()
    meta = {"source": "@vladmandic/human models/emotion.json",
            "generated_by": graph.model.get("generatedBy"),
            "input": {"width": w, "height": h, "channels": 3, "layout": "NCHW", "color": "RGB",
                      "mean": [0.0] * 3, "std": [255.0] * 3,
                      "inside": f"grey = {GREY} . rgb; (grey - 0.5) * 2"},
            "outputs": [{"name": "probabilities", "shape": [-1, n], "labels": EMOTIONS}],
            "human_defaults": {"minConfidence": 0.1},
            "ops": dict(sorted(graph.ops.items()))}
    return model, graph, meta


# --- words --------------------------------------------------------------------------------------

def check_words(tsv, glove=None):
    rows = []
    for ln in open(tsv, encoding="utf-8"):
        if not ln.strip() or ln.startswith("#"):
            continue
        parts = ln.rstrip("\n").split("\t")
        rows.append((int(parts[0]), parts[1], parts[2].split()))
    if [r[0] for r in rows] != list(range(len(EMOTIONS))):
        raise ValueError(f"{tsv}: needs rows 0..{len(EMOTIONS) - 1} in human's order {EMOTIONS}")
    if glove:
        vocab = cc.read_glove_vocab(glove)
        missing = [(r[0], w) for r in rows for w in r[2] if w not in vocab]
        if missing:
            raise ValueError(f"{tsv}: words not in {os.path.basename(glove)}: {missing}")
    for r in rows:
        if not r[2] or any(w != w.lower() for w in r[2]):
            raise ValueError(f"{tsv}: row {r[0]} has no words or upper-case words")
    return rows


# --- images -------------------------------------------------------------------------------------

def crop_and_resize_np(img, box, out_h, out_w):
    """tf.image.cropAndResize (bilinear, extrapolation 0) of float HWC `img`, box = (y0, x0, y1,
    x1) normalised: output (i, j) samples y0 * (H - 1) + i * (y1 - y0) * (H - 1) / (out_h - 1)."""
    h, w = img.shape[:2]
    y0, x0, y1, x1 = box
    ys = y0 * (h - 1) + np.arange(out_h) * ((y1 - y0) * (h - 1) / (out_h - 1))
    xs = x0 * (w - 1) + np.arange(out_w) * ((x1 - x0) * (w - 1) / (out_w - 1))
    out = np.zeros((out_h, out_w, img.shape[2]), np.float32)
    for i, y in enumerate(ys):
        if y < 0 or y > h - 1:
            continue
        t, b = int(np.floor(y)), int(np.ceil(y))
        fy = y - t
        for j, x in enumerate(xs):
            if x < 0 or x > w - 1:
                continue
            lf, rt = int(np.floor(x)), int(np.ceil(x))
            fx = x - lf
            top = img[t, lf] + (img[t, rt] - img[t, lf]) * fx
            bot = img[b, lf] + (img[b, rt] - img[b, lf]) * fx
            out[i, j] = top + (bot - top) * fy
    return out


def face_box(box_norm, img_w, img_h, scale=1.4):
    """human: detector box (normalised) -> image px, enlarged `scale`x, squared (rounded)."""
    x0, y0, x1, y1 = box_norm[0] * img_w, box_norm[1] * img_h, box_norm[2] * img_w, \
        box_norm[3] * img_h
    cx, cy = x0 + (x1 - x0) / 2, y0 + (y1 - y0) / 2
    sw, sh = abs(x1 - x0) * scale, abs(y1 - y0) * scale
    half = max(sw, sh) / 2
    return [round(cx - half), round(cy - half), round(cx + half), round(cy + half)]


def emotion_input(img, box_px, crop, size):
    """human's emotion input for a face: cropAndResize(box) to crop x crop / 255, then
    resizeBilinear to size x size (rows/cols i * crop / size of the crop) -> [size, size, 3]."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = box_px
    big = crop_and_resize_np(img, (y0 / h, x0 / w, y1 / h, x1 / w), crop, crop) / 255.0
    return cc.tf_resize_bilinear_np(big, size, size)


# --- main ---------------------------------------------------------------------------------------

def save_checked(module, name, example, out_pt, meta, refs, batches, tol):
    """Trace `module` on `example`, save to OUT.tmp, reload, compare each batch slice against the
    eager per-image outputs `refs` (lists of tensors per image). Returns (tmp path, loaded)."""
    with torch.no_grad():
        traced = torch.jit.trace(module, example, check_trace=False)
    tmp = out_pt + ".tmp"
    traced.save(tmp, _extra_files={"i2s_meta.json": json.dumps(meta)})
    loaded = torch.jit.load(tmp)
    worst = 0.0
    with torch.no_grad():
        for lo, hi in batches:
            outs = loaded(refs["x"][lo:hi])
            outs = outs if isinstance(outs, tuple) else (outs,)
            for j, i in enumerate(range(lo, hi)):
                for o, r in zip(outs, refs["y"][i]):
                    worst = max(worst, (o[j] - r[0]).abs().max().item())
    if worst > tol:
        raise SystemExit(f"{name}: trace/reload/batch check failed, max |diff| {worst:.2e}")
    log(f"{name}: traced + reloaded; batches {', '.join(f'{hi - lo}' for lo, hi in batches)} == "
        f"eager batch 1 per image, max |diff| {worst:.1e}")
    return tmp, loaded


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models_dir", help="human's models/ (blazeface.json, emotion.json + .bin)")
    ap.add_argument("out_dir", help="writes faces.pt and emotion.pt here")
    ap.add_argument("--meta-json", help="also write PREFIX.faces.meta.json, "
                    "PREFIX.emotion.meta.json")
    ap.add_argument("--check-images", nargs="*", default=[])
    ap.add_argument("--iou", type=float, default=0.1, help="NMS IoU threshold (human: 0.1)")
    ap.add_argument("--words", help="emotion_words.tsv to validate (human's label order)")
    ap.add_argument("--glove", help="glove100.i2sv (words must be in its vocabulary)")
    ap.add_argument("--bench", action="store_true",
                    help="time one forward on 1 thread: plain vs freeze+optimize_for_inference")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    if args.words:
        rows = check_words(args.words, args.glove)
        log(f"{os.path.basename(args.words)}: {len(rows)} labels in human's order "
            f"({', '.join(r[1] for r in rows)}){', all words in GloVe' if args.glove else ''}")

    det, dgraph, d_outputs, dmeta = build_detector(os.path.join(args.models_dir,
                                                                "blazeface.json"), args.iou)
    emo, egraph, emeta = build_emotion(os.path.join(args.models_dir, "emotion.json"))
    for meta, g, name in ((dmeta, dgraph, "blazeface"), (emeta, egraph, "emotion")):
        base = os.path.join(args.models_dir, name)
        meta["source_sha256"] = cc.sha256(base + ".json")
        meta["weights_sha256"] = [cc.sha256(os.path.join(args.models_dir, p))
                                  for grp in g.model["weightsManifest"] for p in grp["paths"]]
        meta["converter"] = "tools/assets/convert_faces.py"
        meta["torch"] = torch.__version__
        n_w = sum(int(np.prod(v.shape)) for v in g.weights.values())
        log(f"parsed {name}.json ({meta['generated_by']}): {len(g.nodes)} nodes, ops "
            f"{dict(g.ops)}; {n_w:,} weights")
    S = dmeta["input"]["height"]
    E = emeta["input"]["height"]

    # inputs: synthetic + photos, preprocessed as human does
    photos = [(os.path.basename(p), cc.load_rgb(p).astype(np.float32))
              for p in args.check_images]
    imgs = [(f"synthetic{i}", im) for i, im in enumerate(cc.synthetic_images(3, S, S))]
    imgs += [(n, cc.tf_resize_bilinear_np(im, S, S)) for n, im in photos]
    xd = cc.to_nchw([(im - 127.5) / 127.5 for _, im in imgs])

    # 1. detector heads == the graph's own outputs (interpreted, batch 1, with its Reshapes)
    full = cc.TFJSNet(dgraph, d_outputs, fuse_hswish=False, input_name=det.net.input_name).eval()
    full.prepare(S, S)
    anchors = det.anchors.numpy()
    worst_heads = worst_dec = 0.0
    det.raw = True
    found = {}
    with torch.no_grad():
        for i, (name, _) in enumerate(imgs):
            g = [t[0].numpy() for t in full(xd[i:i + 1])]          # 512x1, 512x16, 384x1, 384x16
            ref = np.concatenate([np.concatenate([g[0], g[1]], 1),
                                  np.concatenate([g[2], g[3]], 1)], 0)
            mine = det(xd[i:i + 1])[0].numpy()
            worst_heads = max(worst_heads, float(np.abs(ref - mine).max()))
            # 2. decode + NMS == numpy replica of human's getBoxes (all 896 anchors)
            want = human_get_boxes(ref, S, anchors)
            det.raw = False
            b, s, _, _ = (t[0].numpy() for t in det(xd[i:i + 1]))
            det.raw = True
            got = [(float(s[k]), *(b[k] * S).tolist()) for k in range(len(s)) if s[k] > 0.2]
            if len(got) != len(want):
                raise SystemExit(f"decode check failed on {name}: {len(got)} faces > 0.2, "
                                 f"human's getBoxes {len(want)}")
            for p, q in zip(got, want):
                worst_dec = max(worst_dec, max(abs(u - v) for u, v in zip(p, q)))
            found[name] = got
    del full
    if worst_heads > 1e-4 or worst_dec > 1e-3:
        raise SystemExit(f"detector check failed: heads {worst_heads:.2e}, decode {worst_dec:.2e}")
    log(f"faces: heads == graph outputs (Identity..Identity_3) on {len(imgs)} images, max |diff| "
        f"{worst_heads:.1e}; decode + NMS == human's getBoxes replica (score > 0.2), max |diff| "
        f"{worst_dec:.1e} (scores, input px)")

    # 3. emotion == the graph (grey input computed in numpy as human does), on real face crops
    #    (the photos' best face per human's box) and synthetic crops
    crops = []
    for n, im in photos:
        det.raw = False
        with torch.no_grad():
            b, s, _, _ = det(cc.to_nchw([(cc.tf_resize_bilinear_np(im, S, S) - 127.5) / 127.5]))
        for k in range(min(3, int((s[0] > 0.5).sum()))):
            box = face_box(b[0, k].tolist(), im.shape[1], im.shape[0])
            crops.append((f"{n}#{k}", emotion_input(im, box, S, E)))
    crops += [(f"synthetic{i}", im / 255.0) for i, im in enumerate(cc.synthetic_images(3, E, E))]
    worst_emo = 0.0
    with torch.no_grad():
        for name, c in crops:
            grey = (c * np.array(GREY, np.float32)).sum(axis=2, keepdims=True)
            ref = emo.net(cc.to_nchw([(grey - 0.5) * 2]))[0][0].numpy()
            mine = emo(cc.to_nchw([c]))[0].numpy()
            worst_emo = max(worst_emo, float(np.abs(ref - mine).max()))
    if worst_emo > 1e-5:
        raise SystemExit(f"emotion check failed: max |diff| {worst_emo:.2e}")
    log(f"emotion: == graph (Identity, grey input as human computes it) on {len(crops)} crops, "
        f"max |diff| {worst_emo:.1e}")

    # 4. trace, save, reload, batch consistency
    os.makedirs(args.out_dir, exist_ok=True)
    det.raw = False
    with torch.no_grad():
        dref = {"x": xd, "y": [det(xd[i:i + 1]) for i in range(len(imgs))]}
    n = len(imgs)
    dtmp, dload = save_checked(det, "faces.pt", xd[:2], os.path.join(args.out_dir, "faces.pt"),
                               dmeta, dref, ((0, 1), (0, 3), (1, n)), 1e-4)
    xe = cc.to_nchw([c for _, c in crops])
    with torch.no_grad():
        eref = {"x": xe, "y": [(emo(xe[i:i + 1]),) for i in range(len(crops))]}
    etmp, eload = save_checked(emo, "emotion.pt", xe[:2],
                               os.path.join(args.out_dir, "emotion.pt"), emeta, eref,
                               ((0, 1), (0, 3), (1, len(crops))), 1e-5)

    for i, (name, _) in enumerate(imgs):
        if name.startswith("synthetic"):
            continue
        faces = [f"{sc:.3f} ({', '.join(f'{v / S:.3f}' for v in bx)})"
                 for sc, *bx in found[name] if sc > 0.5]
        log(f"check {name:24s} faces > 0.5: {'; '.join(faces) or '(none)'}")
    with torch.no_grad():
        for name, c in crops:
            if name.startswith("synthetic"):
                continue
            p = eload(cc.to_nchw([c]))[0].tolist()
            top = sorted(range(len(p)), key=lambda k: -p[k])[:3]
            log(f"check {name:24s} emotion: {', '.join(f'{EMOTIONS[k]} {p[k]:.2f}' for k in top)}")

    if args.bench:
        bench("faces.pt", det, dload, xd[:1])
        bench("emotion.pt", emo, eload, xe[:1])

    os.replace(dtmp, os.path.join(args.out_dir, "faces.pt"))
    os.replace(etmp, os.path.join(args.out_dir, "emotion.pt"))
    if args.meta_json:
        for meta, what in ((dmeta, "faces"), (emeta, "emotion")):
            with open(f"{args.meta_json}.{what}.meta.json", "w") as f:
                json.dump(meta, f, indent=2)
    for f in ("faces.pt", "emotion.pt"):
        p = os.path.join(args.out_dir, f)
        log(f"wrote {p} ({os.path.getsize(p) / 1e6:.2f} MB)")
    log(f"done in {time.time() - t0:.1f}s")


def bench(name, eager, traced, x, reps=20):
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
        return out, 1000 * float(np.min(ts)), 1000 * float(np.median(ts))
    out_p, t_plain, m_plain = timeit(traced)
    opt = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
    out_o, t_opt, m_opt = timeit(opt)
    out_p = out_p if isinstance(out_p, tuple) else (out_p,)
    out_o = out_o if isinstance(out_o, tuple) else (out_o,)
    d = max((a - b).abs().max().item() for a, b in zip(out_p, out_o))
    extra = ""
    if hasattr(eager, "rows"):
        _, t_net, _ = timeit(torch.jit.trace(eager.net, x, check_trace=False))
        extra = f" (network alone {t_net:.2f} ms, decode+NMS {t_plain - t_net:.2f} ms)"
    log(f"bench {name} (1 thread, {reps} runs, best/median): plain {t_plain:.2f}/{m_plain:.2f} ms"
        f"{extra}; freeze+optimize_for_inference {t_opt:.2f}/{m_opt:.2f} ms; max |diff| {d:.1e}")
    torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
