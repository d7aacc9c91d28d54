#!/usr/bin/python3
"""Write the 1280x720 JPEG photos that docs/performance.md's speed tables use.

Eight photos of the eval set (Debian wallpapers and puzzle pictures, licences in the eval
set's ATTRIBUTION.txt) are centre-cropped to 16:9, resized to 1280x720 (Lanczos) and saved
as baseline JPEG, quality 90, 4:2:0: what a phone or an editor exports, so the speed numbers
include a realistic decode.

Usage: make_bench_photos.py [--eval=~/.cache/image2song/eval/photos] OUT_DIR
"""
import argparse
import os
import sys

from PIL import Image

PHOTOS = ["mate-green-meadow.jpg", "palapeli-bee.jpg", "signpost.jpg", "lxqt-hills.jpg",
          "lxqt-fog.jpg", "mate-fresh-flower.jpg", "palapeli-chameleon.jpg", "lomiri-picos.jpg"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--eval", default=os.path.expanduser("~/.cache/image2song/eval/photos"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for name in PHOTOS:
        src = os.path.join(a.eval, name)
        if not os.path.exists(src):
            sys.exit(f"missing {src}: run tools/eval/make_eval_set.sh first")
        im = Image.open(src).convert("RGB")
        w, h = im.size
        if w * 9 > h * 16:   # wider than 16:9
            cw, ch = h * 16 // 9, h
        else:
            cw, ch = w, w * 9 // 16
        left, top = (w - cw) // 2, (h - ch) // 2
        im = im.crop((left, top, left + cw, top + ch)).resize((1280, 720), Image.LANCZOS)
        dst = os.path.join(a.out, name)
        im.save(dst, "JPEG", quality=90, subsampling="4:2:0")
        print(f"{dst}: 1280x720, {os.path.getsize(dst)} bytes")


if __name__ == "__main__":
    main()
