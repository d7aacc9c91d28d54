"""What the checks against npm @vladmandic/human share (check_centernet_parity.py,
check_centernet_sizes.py, check_faces_parity.py): the asset cache and the start of their
command line.  No third-party imports, so a check can still exit 77 when torch is missing."""

import argparse
import os

HUMAN_VERSION = "3.3.6"


def parser(doc):
    """-> (the asset cache, an ArgumentParser described by doc's first paragraph, with
    --human-dir: the unpacked npm package in the cache)."""
    cache = os.environ.get("I2S_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                        "image2song")
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--human-dir", default=os.path.join(
        cache, "downloads", f"vladmandic-human-{HUMAN_VERSION}"))
    return cache, ap
