#!/usr/bin/python3
"""Adds a sentences.bin of random unit vectors to a copy of a bundle, for timing and memory
measurements of sentence attention at scale (docs/indexing.md, "At 1M songs").

Real sentence vectors of 1M synthetic songs (25M lyric lines) take ~8 h to encode on 2 cores;
the cost of reading and scoring them does not depend on their values, so this writes the file
of core/index/sentence_vectors.h with the right shape: one 512-d 8-bit record per lyric line
(the line counts of the bundle's columns.bin) and per song. The other files are hard-linked;
the manifest gains the file's sha256 and the sentence encoder's id. Not for relevance.

  /usr/bin/python3 tools/bench/gen_sentence_vectors.py SOURCE_BUNDLE OUTPUT_BUNDLE \\
      [--encoder_id=use-lite@energetic-ai-0.2.0]
"""
import argparse
import hashlib
import json
import os
import struct
import time

import numpy as np

DIM = 512
RECORD = 4 + DIM


def aligned(x):
    return (x + 7) // 8 * 8


def line_counts(bundle):
    """u32 lines[n] of columns.bin (core/bundle/song_store.h)."""
    path = os.path.join(bundle, 'columns.bin')
    with open(path, 'rb') as f:
        head = f.read(24)
    if head[:8] != b'I2SCOL01':
        raise SystemExit(f'{path}: not a columns.bin')
    n, _slots = struct.unpack('<QQ', head[8:24])
    off = 24
    for width in (2, 2, 2, 2, 1, 4):  # genre, mood, language, license, explicit, duration
        off = aligned(off + width * n)
    return n, np.fromfile(path, dtype='<u4', count=n, offset=off).astype(np.uint64)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('source')
    ap.add_argument('output')
    ap.add_argument('--encoder_id', default='use-lite@energetic-ai-0.2.0')
    ap.add_argument('--seed', type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.output, exist_ok=True)
    for name in os.listdir(a.source):
        if name in ('manifest.json', 'sentences.bin'):
            continue
        dst = os.path.join(a.output, name)
        if os.path.exists(dst):
            os.remove(dst)
        os.link(os.path.join(a.source, name), dst)
    n, lines = line_counts(a.source)
    total = int(lines.sum())
    print(f'{n} songs, {total} lyric lines', flush=True)
    rng = np.random.default_rng(a.seed)
    path = os.path.join(a.output, 'sentences.bin')
    start = time.time()
    with open(path, 'wb') as f:
        f.write(b'I2SSEN01' + struct.pack('<IIQQ', DIM, RECORD, n, total))
        done, chunk, shown = 0, 200000, 0
        while done < total + n:
            count = min(chunk, total + n - done)
            codes = rng.integers(-127, 128, size=(count, DIM), dtype=np.int8)
            norm = np.sqrt((codes.astype(np.float32) ** 2).sum(1))
            rec = np.empty((count, RECORD), dtype=np.uint8)
            rec[:, :4] = (1.0 / norm).astype('<f4').view(np.uint8).reshape(count, 4)
            rec[:, 4:] = codes.view(np.uint8)
            f.write(rec.tobytes())
            done += count
            if time.time() - shown > 10:
                shown = time.time()
                print(f'  {done}/{total + n} records ({100 * done / (total + n):.0f} %), '
                      f'{time.time() - start:.0f} s', flush=True)
        pos = f.tell()
        f.write(b'\0' * (aligned(pos) - pos))
        offsets = np.zeros(n + 1, dtype='<u8')
        offsets[1:] = np.cumsum(lines)
        f.write(offsets.tobytes())
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 24), b''):
            digest.update(block)
    with open(os.path.join(a.source, 'manifest.json')) as f:
        manifest = json.load(f)
    manifest['files']['sentences.bin'] = {'bytes': os.path.getsize(path),
                                          'sha256': digest.hexdigest()}
    manifest['sentence_encoder'] = {'id': a.encoder_id, 'dim': DIM}
    manifest['version'] = manifest.get('version', 'bundle') + '-random-sentences'
    with open(os.path.join(a.output, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    print(f'{path}: {os.path.getsize(path)} bytes in {time.time() - start:.0f} s')


if __name__ == '__main__':
    main()
