#!/usr/bin/python3
"""Numerical parity of the converted CenterNet detector against the original TF.js model.

Reference: tools/assets/parity/centernet_tfjs.mjs runs human's models/centernet.json with the pure-JS
@tensorflow/tfjs CPU backend in Node (installed in the cache from tools/assets/parity/package.json), on
real photos from $CACHE/samples, preprocessing them exactly as human does
(tf.image.resizeBilinear to 512x512 of the float RGB photo), and decodes detections both with
human's own code (the @vladmandic/human library, object detection only) and with a verbatim copy
of its process() step.  This script then feeds the *same* resized tensors to
  * the eager PyTorch interpreter (tools/assets/convert_centernet.py) for the raw heads:
    tower_0/keypoints (sigmoid heatmap), tower_0/wh, tower_0/detections (pre-NMS peaks);
  * the converted TorchScript $CACHE/models/default/centernet.pt (all photos in one batch) for
    the final detections: class-agnostic NMS, (x_min, y_min, x_max, y_max) / 512, clipped,
and compares: max abs / rel diffs of the raw tensors, and for detections with score > --min-score
(default 0.3, top --top-k 10) the same classes and boxes within tolerance (human's boxes clipped
to [0, 1] as the TorchScript does).  It also reports how far a Python port of human's resize is
from tfjs' (preprocessing parity) and prints the detections per photo.

Exit codes: 0 ok, 1 mismatch, 77 cache / node modules / samples / node missing
(CTest: SKIP_RETURN_CODE 77, label models).  Run after tools/assets/setup_assets.sh.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import human_checks

SKIP = 77
TOOLS = os.path.dirname(os.path.abspath(__file__))
HUMAN_VERSION = human_checks.HUMAN_VERSION
DEFAULT_PHOTOS = ["grace_hopper.jpg", "motorcycle_left.png", "chelsea.png", "china.jpg"]

# tolerances (float32 TF.js CPU kernels vs PyTorch/oneDNN kernels)
TOL_HEAT_ABS = 1e-3      # sigmoid heatmap
TOL_WH_REL = 1e-3        # size head, relative to its largest magnitude
TOL_SCORE = 2e-3         # final scores
TOL_BOX = 2e-3           # final boxes, normalised coordinates (1e-3 = 0.5 px at 512)


def human_box(d):
    """human's boxRaw (x, y, w, h) / 512 -> (x_min, y_min, x_max, y_max) clipped to [0, 1]."""
    x, y, w, h = d["boxRaw"]
    return [min(max(v, 0.0), 1.0) for v in (min(x, x + w), min(y, y + h),
                                             max(x, x + w), max(y, y + h))]


def main():
    sys.dont_write_bytecode = True
    cache, ap = human_checks.parser(__doc__)
    ap.add_argument("--tfjs-prefix", default=os.path.join(cache, "node"))
    ap.add_argument("--model", default=os.path.join(cache, "models", "default", "centernet.pt"))
    ap.add_argument("--samples", default=os.path.join(cache, "samples"))
    ap.add_argument("--photos", nargs="*", default=DEFAULT_PHOTOS)
    ap.add_argument("--min-score", type=float, default=0.3)
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument("--node", default=os.environ.get("NODE", "node"))
    ap.add_argument("--no-human", action="store_true",
                    help="skip the human library run (replica of its decoder only; faster)")
    ap.add_argument("--keep", help="keep the exchanged tensors in this directory")
    args = ap.parse_args()

    model_json = os.path.join(args.human_dir, "models", "centernet.json")
    need = [model_json, os.path.join(args.human_dir, "src", "object", "labels.ts"),
            os.path.join(args.tfjs_prefix, "node_modules", "@tensorflow", "tfjs", "package.json"),
            args.model]
    for p in need:
        if not os.path.exists(p):
            print(f"SKIP: {p} missing; run tools/assets/setup_assets.sh first")
            return SKIP
    node = shutil.which(args.node)
    if not node:
        print(f"SKIP: {args.node} (Node.js) not found")
        return SKIP
    photos = [p for p in args.photos if os.path.exists(os.path.join(args.samples, p))]
    if not photos:
        print(f"SKIP: none of {args.photos} in {args.samples}")
        return SKIP
    try:
        import numpy as np
        import torch
    except ImportError as e:
        print(f"SKIP: {e} (needs Debian python3-torch, python3-opencv, python3-numpy)")
        return SKIP
    sys.path.insert(0, TOOLS)
    import convert_centernet as cc
    torch.set_num_threads(2)
    t_start = time.time()

    work = args.keep or tempfile.mkdtemp(prefix="i2s-centernet-")
    os.makedirs(work, exist_ok=True)
    try:
        # 1. photos -> raw float32 RGB at original size (human casts the decoded pixels)
        inputs, rgb = [], {}
        for p in photos:
            name = os.path.splitext(p)[0]
            im = cc.load_rgb(os.path.join(args.samples, p)).astype(np.float32)
            rgb[name] = im
            im.tofile(os.path.join(work, f"{name}.rgb.f32"))
            inputs.append({"name": name, "file": f"{name}.rgb.f32", "height": im.shape[0],
                           "width": im.shape[1]})
        with open(os.path.join(work, "inputs.json"), "w") as f:
            json.dump(inputs, f)

        # 2. TF.js reference
        js = os.path.join(TOOLS, "parity", "centernet_tfjs.mjs")
        human_dir = args.human_dir
        cmd = [node, js, "--tfjs-prefix", args.tfjs_prefix, "--human", human_dir,
               "--inputs", os.path.join(work, "inputs.json"), "--out", os.path.join(work, "js"),
               "--min-confidence", "0.2", "--iou", "0.4", "--max-detected", str(args.top_k)]
        if args.no_human:
            cmd += ["--skip-human", "1"]
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            print(r.stdout[-4000:], r.stderr[-4000:])
            print(f"FAIL: {os.path.basename(js)} exited {r.returncode}")
            return 1
        with open(os.path.join(work, "js", "results.json")) as f:
            res = json.load(f)
        print(f"TF.js reference: @tensorflow/tfjs {res['tfjs']} backend {res['backend']}, human "
              f"{res['human'] or '(library not run)'}; {len(photos)} photos in "
              f"{time.time() - t0:.0f}s ({', '.join(str(i['ms']) + ' ms' for i in res['images'])}"
              f" per model.execute)")
        S = int(res["inputSize"])

        def rd(name, what, shape):
            return np.fromfile(os.path.join(work, "js", f"{name}.{what}.f32"),
                               np.float32).reshape(shape)

        # 3. PyTorch: eager interpreter (raw heads) and the TorchScript file (final detections)
        det, _graph, meta = cc.build(model_json, iou=0.4)
        det.raw = True
        ts = torch.jit.load(args.model)
        labels = [lab for _, lab in
                  __import__("re").findall(r"class:\s*(\d+),\s*label:\s*'([^']*)'",
                                           open(os.path.join(human_dir, "src", "object",
                                                             "labels.ts")).read())]
        js_in = {i["name"]: rd(i["name"], "input", (1, S, S, 3)) for i in res["images"]}
        with torch.no_grad():
            batch = torch.from_numpy(np.concatenate([js_in[i["name"]] for i in res["images"]])) \
                .permute(0, 3, 1, 2).contiguous()
            t1 = time.time()
            fb, fs, fc = ts(batch)
            t_ts = time.time() - t1

        ok = True
        rows = []
        print()
        print(f"{'photo':16s} {'resize':>8s} {'heat abs':>9s} {'heat rel':>9s} {'wh abs':>8s} "
              f"{'wh rel':>8s} {'peaks':>7s} {'det>' + str(args.min_score):>7s} "
              f"{'box diff':>8s} {'score d':>8s} {'human':>6s}  result")
        for b, im in enumerate(res["images"]):
            name = im["name"]
            # preprocessing: our numpy port of tf.image.resizeBilinear vs tfjs
            d_resize = float(np.abs(cc.tf_resize_bilinear_np(rgb[name], S, S) -
                                    js_in[name][0]).max())
            jh = rd(name, "keypoints", tuple(im["shapes"]["keypoints"]))[0]
            jw = rd(name, "wh", tuple(im["shapes"]["wh"]))[0]
            jd = rd(name, "detections", tuple(im["shapes"]["detections"]))[0]
            with torch.no_grad():
                ph, pw, pd = (t[0].numpy() for t in det(batch[b:b + 1]))
            heat_abs = float(np.abs(ph - jh).max())
            sel = jh > 0.01
            heat_rel = float((np.abs(ph - jh)[sel] / jh[sel]).max()) if sel.any() else 0.0
            wh_abs = float(np.abs(pw - jw).max())
            wh_rel = wh_abs / float(np.abs(jw).max())
            # pre-NMS peaks above 0.05: same class, score and box (within 0.5 px)
            n_peaks = n_peak_ok = 0
            for x1, y1, x2, y2, sc, c in jd.tolist():
                if sc <= 0.05:
                    continue
                n_peaks += 1
                n_peak_ok += any(int(q[5]) == int(c) and abs(q[4] - sc) < TOL_SCORE and
                                 max(abs(u - v) for u, v in zip(q[:4], (x1, y1, x2, y2))) < 0.5
                                 for q in pd.tolist())
            # final detections
            ref = [d for d in im["replica"] if d["scoreRaw"] > args.min_score][:args.top_k]
            human_same = None
            if im.get("human") is not None:
                hs = [(d["class"], d["score"], [round(v, 6) for v in d["boxRaw"]])
                      for d in im["human"]]
                rs = [(d["class"], d["score"], [round(v, 6) for v in d["boxRaw"]])
                      for d in im["replica"]]
                human_same = hs == rs
                ok &= human_same
            keep = (fs[b] > args.min_score).nonzero().reshape(-1).tolist()[:args.top_k]
            ours = [(int(fc[b, j]), float(fs[b, j]), fb[b, j].tolist()) for j in keep]
            used, box_d, score_d, bad = set(), 0.0, 0.0, []
            for d in ref:
                rb = human_box(d)
                cand = [(max(abs(a - b_) for a, b_ in zip(o[2], rb)), k) for k, o in
                        enumerate(ours) if k not in used and o[0] == d["class"]]
                bd, k = min(cand, default=(1.0, None))
                if k is None or bd > TOL_BOX or abs(ours[k][1] - d["scoreRaw"]) > TOL_SCORE:
                    if abs(d["scoreRaw"] - args.min_score) > TOL_SCORE:
                        bad.append(f"missing {labels[d['class']]} {d['scoreRaw']:.3f}")
                    continue
                used.add(k)
                box_d, score_d = max(box_d, bd), max(score_d, abs(ours[k][1] - d["scoreRaw"]))
            for k, o in enumerate(ours):
                if k not in used and abs(o[1] - args.min_score) > TOL_SCORE:
                    bad.append(f"extra {labels[o[0]]} {o[1]:.3f}")
            good = (heat_abs < TOL_HEAT_ABS and wh_rel < TOL_WH_REL and n_peak_ok == n_peaks
                    and not bad and human_same is not False)
            ok &= good
            print(f"{name:16s} {d_resize:8.1e} {heat_abs:9.1e} {heat_rel:9.1e} {wh_abs:8.1e} "
                  f"{wh_rel:8.1e} {n_peak_ok:3d}/{n_peaks:<3d} {len(used):3d}/{len(ref):<3d} "
                  f"{box_d:8.1e} {score_d:8.1e} "
                  f"{'-' if human_same is None else ('same' if human_same else 'DIFF'):>6s}  "
                  f"{'ok' if good else 'MISMATCH ' + '; '.join(bad)}")
            rows.append((name, ours, im))

        print("\n(resize: max |numpy port of tf.image.resizeBilinear - tfjs| on 0..255 input; "
              "heat rel over values > 0.01; wh rel = max abs / max |wh|; peaks: pre-NMS peaks "
              "> 0.05 with same class, score and box (0.5 px); det: TorchScript detections matched "
              "to human's; human: library output == replica of its decoder)")
        print(f"TorchScript batch of {len(photos)}: {t_ts * 1000:.0f} ms (2 threads, first call: "
              f"includes the JIT profiling run)")
        print(f"\nDetections (TorchScript, score > {args.min_score}, top {args.top_k}; box = "
              f"x_min,y_min,x_max,y_max of the photo, normalised; human score in brackets, "
              f"truncated to 2 decimals as human reports it):")
        for name, ours, im in rows:
            hum = im["human"] if im.get("human") is not None else im["replica"]
            items = []
            for c, s, bx in ours:
                hm = sorted((max(abs(u - v) for u, v in zip(bx, human_box(d))), d["score"])
                            for d in hum if d["class"] == c)
                hm = [h[1] for h in hm if h[0] < 0.01]
                items.append(f"{labels[c]} {s:.3f} [{hm[0] if hm else '-'}] "
                             f"({', '.join(f'{v:.3f}' for v in bx)})")
            print(f"  {name:16s} " + ("; ".join(items) if items else "(none)"))
        print(f"\n{'PASS' if ok else 'FAIL'} ({time.time() - t_start:.0f}s)")
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
