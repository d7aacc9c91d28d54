#!/usr/bin/env python3
"""Writes the flag reference (docs/configuration.md) from the binaries' own --help.

    /usr/bin/python3 tools/dev/gen_flag_docs.py BUILD_DIR [--check] [--doc=docs/configuration.md]

Between `<!-- flags:NAME begin -->` and `<!-- flags:NAME end -->` in the
document it puts a table of NAME's flags (flag, default, meaning) parsed from
`NAME --help` (abseil's format). --check changes nothing and exits 1 when the
document differs from what the binaries print (a CTest test runs it, so the
reference cannot go stale).
"""

import argparse
import os
import re
import subprocess
import sys

BINARIES = {
    "i2s-server": "server/i2s-server",
    "i2s-index": "index/i2s-index",
    "i2s-client": "client/i2s-client",
}


def parse_help(text):
    """[(flag, default, help)] from abseil --help output."""
    flags = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^  --(\S+) \(default: (.*)\)$", lines[i])
        i += 1
        if not m:
            continue
        meaning = []
        while i < len(lines) and lines[i].startswith("      "):
            meaning.append(lines[i].strip())
            i += 1
        flags.append((m.group(1), m.group(2), " ".join(meaning)))
    return flags


def cell(text):
    return text.replace("|", "\\|")


def table(name, build):
    out = subprocess.run([os.path.join(build, BINARIES[name]), "--help"],
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    if out.returncode != 0:
        sys.exit(f"gen_flag_docs: {name} --help exited {out.returncode}: {out.stderr}")
    flags = parse_help(out.stdout + out.stderr)
    if not flags:
        sys.exit(f"gen_flag_docs: no flags parsed from {name} --help")
    rows = [f"Generated from `{name} --help` by `tools/dev/gen_flag_docs.py`; do not edit by hand.", "",
            "| flag | default | meaning |", "|---|---|---|"]
    for flag, default, meaning in flags:
        rows.append(f"| `--{flag}` | `{cell(default)}` | {cell(meaning)} |")
    return "\n".join(rows)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--check", action="store_true")
    p.add_argument("--doc", default=os.path.join(os.path.dirname(__file__), "..", "..", "docs",
                                                 "configuration.md"))
    args = p.parse_args()
    with open(args.doc, encoding="utf-8") as f:
        doc = f.read()
    updated = doc
    found = 0
    for name in BINARIES:
        begin, end = f"<!-- flags:{name} begin -->", f"<!-- flags:{name} end -->"
        a, b = updated.find(begin), updated.find(end)
        if a < 0 or b < a:
            continue
        found += 1
        updated = updated[:a + len(begin)] + "\n" + table(name, args.build) + "\n" + updated[b:]
    if found == 0:
        sys.exit(f"gen_flag_docs: no <!-- flags:NAME begin/end --> markers in {args.doc}")
    if args.check:
        if updated != doc:
            sys.exit(f"gen_flag_docs: the flag reference in {args.doc} differs from --help; run "
                     "/usr/bin/python3 tools/dev/gen_flag_docs.py build")
        print(f"gen_flag_docs: {found} flag tables match --help")
        return
    if updated != doc:
        with open(args.doc, "w", encoding="utf-8") as f:
            f.write(updated)
    print(f"gen_flag_docs: {found} flag tables written")


if __name__ == "__main__":
    main()
