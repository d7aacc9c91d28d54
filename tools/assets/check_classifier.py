#!/usr/bin/python3
"""Known-label check of the converted classifier on the sample photos.

Loads ${I2S_CACHE:-~/.cache/image2song}/models/default/<classifier>.pt with torch.jit.load, runs
every photo listed in $CACHE/samples/expected.tsv (cv2 decode, BGR->RGB, resize to the model
input with INTER_AREA, (pixel - mean) / std, NCHW), prints the top-5 labels, and fails when an
image's expected label is not in its top 5.  Also checks output shapes, that scores are
probabilities, and that batched and one-by-one inference agree.

expected.tsv: file <TAB> comma-separated acceptable labels; each an integer label index or a
case-insensitive substring of the label's line in imagenet_labels.txt.

Exit codes: 0 ok, 1 check failed, 77 models or samples missing (CTest: SKIP_RETURN_CODE 77).
"""

import argparse
import json
import os
import sys
import time

SKIP = 77


def main():
    cache = os.environ.get("I2S_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                        "image2song")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models-dir", default=os.path.join(cache, "models", "default"))
    ap.add_argument("--samples", default=os.path.join(cache, "samples", "expected.tsv"))
    ap.add_argument("--top", type=int, default=5)
    args = ap.parse_args()

    manifest = os.path.join(args.models_dir, "models.json")
    labels_txt = os.path.join(args.models_dir, "imagenet_labels.txt")
    for p in (manifest, labels_txt, args.samples):
        if not os.path.exists(p):
            print(f"SKIP: {p} missing; run tools/assets/setup_assets.sh first")
            return SKIP
    try:
        import cv2
        import numpy as np
        import torch
    except ImportError as e:
        print(f"SKIP: {e} (needs Debian python3-torch, python3-opencv, python3-numpy)")
        return SKIP
    torch.set_num_threads(2)

    with open(manifest) as f:
        cfg = json.load(f)
    tagger = next(t for t in cfg["taggers"] if t.get("kind") == "classifier")
    model_path = os.path.join(args.models_dir, tagger["file"])
    if not os.path.exists(model_path):
        print(f"SKIP: {model_path} missing; run tools/assets/setup_assets.sh first")
        return SKIP
    inp = tagger["input"]
    W, H = int(inp["width"]), int(inp["height"])
    mean = torch.tensor(inp["mean"], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(inp["std"], dtype=torch.float32).view(1, 3, 1, 1)
    labels = [ln.rstrip("\n") for ln in open(labels_txt, encoding="utf-8")]

    samples = []
    base = os.path.dirname(args.samples)
    for ln in open(args.samples, encoding="utf-8"):
        ln = ln.rstrip("\n")
        if not ln or ln.startswith("#"):
            continue
        fname, accept = ln.split("\t")[:2]
        samples.append((fname, [a.strip() for a in accept.split(",") if a.strip()]))
    if not samples:
        print(f"SKIP: no samples in {args.samples}")
        return SKIP

    t0 = time.time()
    model = torch.jit.load(model_path, map_location="cpu").eval()
    imgs = []
    for fname, _ in samples:
        im = cv2.imread(os.path.join(base, fname), cv2.IMREAD_COLOR)
        if im is None:
            print(f"FAIL: cannot decode {fname}")
            return 1
        im = cv2.cvtColor(im, cv2.COLOR_BGR2RGB)
        imgs.append(cv2.resize(im, (W, H), interpolation=cv2.INTER_AREA))
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float()
    x = (x - mean) / std
    n = len(imgs)
    with torch.no_grad():
        scores, emb = model(x)[:2]
        single = [model(x[i:i + 1])[:2] for i in range(n)]
        # A model with a feature map and a head (convert_tflite.py): the head
        # on the mean of the map is the whole image's scores.
        out = model(x)
        if len(out) >= 3 and hasattr(model, "head"):
            head = model.head(out[2].mean(dim=(2, 3)))
            d_head = (head - scores).abs().max().item()
            print(f"head(mean of feature map {tuple(out[2].shape[1:])}) vs scores: "
                  f"max |diff| {d_head:.1e}")
            if d_head > 1e-4:
                print("FAIL: head(mean of the feature map) differs from the scores")
                return 1
    ms = (time.time() - t0) * 1000

    failures = []
    nc = len(labels)
    if tuple(scores.shape) != (n, nc) or emb.dim() != 2 or emb.shape[0] != n:
        failures.append(f"shapes: scores {tuple(scores.shape)} (want ({n}, {nc})), "
                        f"embedding {tuple(emb.shape)}")
    if (scores.sum(1) - 1).abs().max().item() > 1e-3 or scores.min().item() < 0:
        failures.append("scores are not probabilities")
    dmax = max(max((s - scores[i]).abs().max().item(), (e - emb[i]).abs().max().item())
               for i, (s, e) in enumerate(single))
    if dmax > 1e-4:
        failures.append(f"batch of {n} vs one-by-one differ by {dmax:.2e}")
    print(f"model {model_path}: scores {tuple(scores.shape)}, embedding {tuple(emb.shape)}, "
          f"batch vs single max |diff| {dmax:.1e}, {ms:.0f} ms for load + {n + 1} runs")

    passed = 0
    for i, (fname, accept) in enumerate(samples):
        p, idx = scores[i].topk(args.top)
        top = list(zip(idx.tolist(), p.tolist()))
        print(f"{fname}: expect one of {accept}")
        for k, s in top:
            print(f"    {s:6.3f}  {k:4d}  {labels[k]}")

        def matches(k):
            for a in accept:
                if a.isdigit() and int(a) == k:
                    return True
                if not a.isdigit() and a.lower() in labels[k].lower():
                    return True
            return False
        if any(matches(k) for k, _ in top):
            passed += 1
        else:
            failures.append(f"{fname}: none of {accept} in top-{args.top}")
    for f in failures:
        print(f"FAIL: {f}")
    print(f"{passed} passed, {len(samples) - passed} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
