#!/usr/bin/python3
"""Numerical parity of the converted face detector and expression classifier against TF.js.

Reference: tools/assets/parity/faces_tfjs.mjs runs human's models/blazeface.json and
models/emotion.json with the pure-JS @tensorflow/tfjs CPU backend in Node (installed in the cache
from tools/assets/parity/package.json) on photos with faces, preprocessing and decoding exactly as
human 3.3.6 does with the face mesh off (a replica of getBoxes / cutAndResize / emotion.predict),
and also runs the @vladmandic/human library itself on them (face detector + emotion only).  This
script then compares, per photo:
  rows     the eager PyTorch interpreter (tools/assets/convert_faces.py) on the *same* 256x256
           input as TF.js: max |diff| of the [896, 17] head rows (score logits, box and landmark
           regressors);
  faces    the TorchScript $CACHE/models/default/faces.pt on that input, scores > --min-score,
           boxes enlarged 1.4x and squared in image pixels as human does: matched one to one with
           TF.js' faces, IoU (must be >= --min-iou, default 0.9) and score difference;
  emotion  emotion.pt on TF.js' own 64x64 crop of each face: max |diff| of the 7 probabilities;
  human    the library's faces (box, score, emotion scores truncated to 2 decimals) == the replica;
  ours     the pipeline as the C++ "faces" tagger runs it: the photo area-resized to 256x256
           (OpenCV INTER_AREA, as PreprocessToChw) instead of tf.image.resizeBilinear, and the
           emotion crop sampled from the photo as human does (cropAndResize to 256 then every 4th
           pixel): worst IoU with TF.js' faces scoring --ours-min-score (default 0.7) or more
           (they must match with IoU >= --min-iou-ours, default 0.75; weaker faces may come and
           go with the resize method) and max |diff| of their probabilities (reported only: the
           expression model is sensitive to a few pixels' shift of its crop).
Default photos (all with faces): grace_hopper.jpg (samples), astronaut.png, messi5.jpg,
gcompris-mariachi.jpg (a band: several faces), camera.png (eval photos).

Exit codes: 0 ok, 1 mismatch, 77 cache / node modules / photos / node missing
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
DEFAULT_PHOTOS = ["samples/grace_hopper.jpg", "eval/photos/astronaut.png",
                  "eval/photos/messi5.jpg", "eval/photos/gcompris-mariachi.jpg",
                  "eval/photos/camera.png"]

TOL_ROWS = 2e-3        # head rows (logits and regressors in 256-input px)
TOL_SCORE = 1e-3       # face scores
TOL_EMOTION = 1e-3     # emotion probabilities on identical crops


def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(ours, ref):
    """Greedy one-to-one matching by IoU: [(ref index, our index or None, IoU)]."""
    pairs, used = [], set()
    for i, r in enumerate(ref):
        best = max(((iou(r, o), j) for j, o in enumerate(ours) if j not in used),
                   default=(0.0, None))
        if best[1] is not None and best[0] > 0:
            used.add(best[1])
            pairs.append((i, best[1], best[0]))
        else:
            pairs.append((i, None, 0.0))
    return pairs, [j for j in range(len(ours)) if j not in used]


def main():
    sys.dont_write_bytecode = True
    cache, ap = human_checks.parser(__doc__)
    ap.add_argument("--tfjs-prefix", default=os.path.join(cache, "node"))
    ap.add_argument("--models", default=os.path.join(cache, "models", "default"),
                    help="directory with faces.pt and emotion.pt")
    ap.add_argument("--photos", nargs="*", default=DEFAULT_PHOTOS,
                    help="paths, relative to the cache when not absolute")
    ap.add_argument("--min-score", type=float, default=0.2, help="human's minConfidence")
    ap.add_argument("--max-detected", type=int, default=10)
    ap.add_argument("--min-iou", type=float, default=0.9)
    ap.add_argument("--min-iou-ours", type=float, default=0.75)
    ap.add_argument("--ours-min-score", type=float, default=0.7)
    ap.add_argument("--node", default=os.environ.get("NODE", "node"))
    ap.add_argument("--no-human", action="store_true",
                    help="skip the human library run (the replica only; faster)")
    ap.add_argument("--keep", help="keep the exchanged tensors in this directory")
    args = ap.parse_args()

    need = [os.path.join(args.human_dir, "models", f) for f in
            ("blazeface.json", "blazeface.bin", "emotion.json", "emotion.bin")]
    need += [os.path.join(args.tfjs_prefix, "node_modules", "@tensorflow", "tfjs",
                          "package.json"),
             os.path.join(args.models, "faces.pt"), os.path.join(args.models, "emotion.pt")]
    for p in need:
        if not os.path.exists(p):
            print(f"SKIP: {p} missing; run tools/assets/setup_assets.sh first")
            return SKIP
    node = shutil.which(args.node)
    if not node:
        print(f"SKIP: {args.node} (Node.js) not found")
        return SKIP
    photos = [p if os.path.isabs(p) else os.path.join(cache, p) for p in args.photos]
    photos = [p for p in photos if os.path.exists(p)]
    if not photos:
        print(f"SKIP: none of {args.photos} found (samples: setup_assets.sh; eval photos: "
              f"tools/eval/make_eval_set.sh)")
        return SKIP
    try:
        import cv2
        import numpy as np
        import torch
    except ImportError as e:
        print(f"SKIP: {e} (needs Debian python3-torch, python3-opencv, python3-numpy)")
        return SKIP
    sys.path.insert(0, TOOLS)
    import convert_centernet as cc
    import convert_faces as cf
    torch.set_num_threads(2)
    t_start = time.time()

    work = args.keep or tempfile.mkdtemp(prefix="i2s-faces-")
    os.makedirs(work, exist_ok=True)
    try:
        inputs, rgb = [], {}
        for p in photos:
            name = os.path.splitext(os.path.basename(p))[0]
            im = cc.load_rgb(p)
            rgb[name] = im
            im.astype(np.float32).tofile(os.path.join(work, f"{name}.rgb.f32"))
            inputs.append({"name": name, "file": f"{name}.rgb.f32", "height": im.shape[0],
                           "width": im.shape[1]})
        with open(os.path.join(work, "inputs.json"), "w") as f:
            json.dump(inputs, f)

        js = os.path.join(TOOLS, "parity", "faces_tfjs.mjs")
        cmd = [node, js, "--tfjs-prefix", args.tfjs_prefix, "--human", args.human_dir,
               "--inputs", os.path.join(work, "inputs.json"), "--out", os.path.join(work, "js"),
               "--min-confidence", str(args.min_score), "--iou", "0.1",
               "--max-detected", str(args.max_detected), "--scale", "1.4"]
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
        S = int(res["inputSize"])
        print(f"TF.js reference: @tensorflow/tfjs {res['tfjs']} backend {res['backend']}, human "
              f"{res['human'] or '(library not run)'}; {len(photos)} photos in "
              f"{time.time() - t0:.0f}s ({', '.join(str(i['ms']) + ' ms' for i in res['images'])}"
              f" per detector pass)")

        def rd(name, what, shape):
            return np.fromfile(os.path.join(work, "js", f"{name}.{what}.f32"),
                               np.float32).reshape(shape)

        det, _graph, _outs, _meta = cf.build_detector(
            os.path.join(args.human_dir, "models", "blazeface.json"))
        det.raw = True
        faces_ts = torch.jit.load(os.path.join(args.models, "faces.pt"))
        emotion_ts = torch.jit.load(os.path.join(args.models, "emotion.pt"))
        E = 64

        def detect(x_hwc):
            x = torch.from_numpy(((x_hwc - 127.5) / 127.5)[None]).permute(0, 3, 1, 2) \
                .contiguous()
            with torch.no_grad():
                b, s, _, _ = faces_ts(x)
            keep = (s[0] > args.min_score).nonzero().reshape(-1).tolist()[:args.max_detected]
            return [(float(s[0, k]), b[0, k].tolist()) for k in keep]

        ok = True
        rows_out = []
        worst = {"rows": 0.0, "iou": 1.0, "score": 0.0, "emotion": 0.0, "iou_ours": 1.0,
                 "emotion_ours": 0.0}
        print()
        print(f"{'photo':20s} {'rows':>8s} {'faces':>6s} {'min IoU':>8s} {'score d':>8s} "
              f"{'emotion':>8s} {'human':>6s} {'ours IoU':>9s} {'ours emo':>9s}  result")
        for im in res["images"]:
            name = im["name"]
            img = rgb[name]
            H, W = img.shape[:2]
            js_in = rd(name, "input", (S, S, 3))
            jrows = rd(name, "rows", (-1, 17))
            with torch.no_grad():
                prow = det(torch.from_numpy(((js_in - 127.5) / 127.5)[None])
                           .permute(0, 3, 1, 2).contiguous())[0].numpy()
            d_rows = float(np.abs(prow - jrows).max())
            ref = im["replica"]
            ref_boxes = [f["startPoint"] + f["endPoint"] for f in ref]
            # TorchScript on TF.js' own resized input
            mine = detect(js_in)
            my_boxes = [cf.face_box(b, W, H) for _, b in mine]
            pairs, extra = match(my_boxes, ref_boxes)
            bad = []
            min_iou, d_score, d_emo = 1.0, 0.0, 0.0
            for i, j, v in pairs:
                if j is None:
                    if abs(ref[i]["score"] - args.min_score) > TOL_SCORE:
                        bad.append(f"missing face {ref[i]['score']:.3f}")
                    continue
                min_iou = min(min_iou, v)
                d_score = max(d_score, abs(mine[j][0] - ref[i]["score"]))
                face = torch.from_numpy(rd(name, f"face{i}", (E, E, 3))[None]) \
                    .permute(0, 3, 1, 2).contiguous()
                with torch.no_grad():
                    p = emotion_ts(face)[0].numpy()
                d_emo = max(d_emo, float(np.abs(p - np.array(ref[i]["emotion"])).max()))
            for j in extra:
                if abs(mine[j][0] - args.min_score) > TOL_SCORE:
                    bad.append(f"extra face {mine[j][0]:.3f}")
            if min_iou < args.min_iou:
                bad.append(f"IoU {min_iou:.3f} < {args.min_iou}")
            if d_rows > TOL_ROWS or d_score > TOL_SCORE or d_emo > TOL_EMOTION:
                bad.append("tolerance")
            # the human library == the replica
            human_same = None
            if im.get("human") is not None:
                def clamp(f):
                    x0, y0, x1, y1 = f["startPoint"] + f["endPoint"]
                    return [int(max(0, x0)), int(max(0, y0)), int(min(W, x1) - max(0, x0)),
                            int(min(H, y1) - max(0, y0))]
                hs = [(h["box"], h["boxScore"],
                       sorted((e["emotion"], e["score"]) for e in h["emotion"]))
                      for h in im["human"]]
                rs = [(clamp(f), round(100 * f["score"]) / 100,
                       sorted((res["emotions"][k], min(0.99, int(100 * v) / 100))
                              for k, v in enumerate(f["emotion"]) if v > 0))
                      for f in ref if round(100 * f["score"]) / 100 > args.min_score]
                human_same = hs == rs
                if not human_same:
                    bad.append("human library differs from the replica")
                    print(f"  human:   {hs}\n  replica: {rs}")
            # ours: INTER_AREA resize + human's crop sampling from the photo
            ours_in = cv2.resize(img, (S, S), interpolation=cv2.INTER_AREA).astype(np.float32)
            ours = detect(ours_in)
            ours_boxes = [cf.face_box(b, W, H) for _, b in ours]
            opairs, _ = match(ours_boxes, ref_boxes)
            iou_ours, d_emo_ours = 1.0, 0.0
            for i, j, v in opairs:
                if ref[i]["score"] < args.ours_min_score:
                    continue
                iou_ours = min(iou_ours, v)
                if j is None:
                    continue
                crop = cf.emotion_input(img.astype(np.float32), ours_boxes[j], S, E)
                with torch.no_grad():
                    p = emotion_ts(torch.from_numpy(crop[None]).permute(0, 3, 1, 2)
                                   .contiguous())[0].numpy()
                d_emo_ours = max(d_emo_ours, float(np.abs(p - np.array(ref[i]["emotion"]))
                                                   .max()))
            if iou_ours < args.min_iou_ours:
                bad.append(f"ours IoU {iou_ours:.3f} < {args.min_iou_ours}")
            ok &= not bad
            for k, v in (("rows", d_rows), ("score", d_score), ("emotion", d_emo),
                         ("emotion_ours", d_emo_ours)):
                worst[k] = max(worst[k], v)
            worst["iou"] = min(worst["iou"], min_iou)
            worst["iou_ours"] = min(worst["iou_ours"], iou_ours)
            print(f"{name:20s} {d_rows:8.1e} {len(mine):2d}/{len(ref):<3d} {min_iou:8.4f} "
                  f"{d_score:8.1e} {d_emo:8.1e} "
                  f"{'-' if human_same is None else ('same' if human_same else 'DIFF'):>6s} "
                  f"{iou_ours:9.3f} {d_emo_ours:9.3f}  {'ok' if not bad else '; '.join(bad)}")
            rows_out.append((name, ref, W, H))

        print(f"\nworst: rows {worst['rows']:.1e}, face IoU {worst['iou']:.4f}, score "
              f"{worst['score']:.1e}, emotion {worst['emotion']:.1e}; ours (INTER_AREA input, "
              f"faces >= {args.ours_min_score}): IoU {worst['iou_ours']:.3f}, emotion {worst['emotion_ours']:.3f}")
        print("(rows: max |PyTorch - tfjs| of the [896,17] head rows on the same input; faces: "
              "TorchScript/TF.js faces over the score threshold; IoU of the enlarged, squared "
              "boxes; emotion: max |diff| of the 7 probabilities on TF.js' 64x64 crop; human: the "
              "library's faces == the replica)")
        print(f"\nFaces (TF.js replica, score > {args.min_score}; box = image px, enlarged and "
              f"squared; top 3 emotions):")
        for name, ref, W, H in rows_out:
            items = []
            for f in ref:
                p = f["emotion"]
                top = sorted(range(len(p)), key=lambda k: -p[k])[:3]
                items.append(f"{f['score']:.3f} [{', '.join(str(v) for v in f['startPoint'] + f['endPoint'])}] "
                             + ", ".join(f"{res['emotions'][k]} {p[k]:.2f}" for k in top))
            print(f"  {name:20s} ({W}x{H}) " + ("\n" + " " * 24).join(items or ["(none)"]))
        print(f"\n{'PASS' if ok else 'FAIL'} ({time.time() - t_start:.0f}s)")
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
