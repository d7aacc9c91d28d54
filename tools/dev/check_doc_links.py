#!/usr/bin/env python3
"""Checks that every relative link and #anchor in the documentation resolves.

    /usr/bin/python3 tools/dev/check_doc_links.py [SOURCE_DIR] [FILE.md ...]

Reads README.md and docs/*.md under SOURCE_DIR (default: the repository this
script is in), or the FILEs given. For every markdown link `[text](target)`,
image `![alt](target)` and reference definition `[label]: target` outside code
it checks that a relative target exists and that a `#anchor` (in the same file
or in another .md file) names a heading there, using GitHub's anchor rules:
the heading's text as rendered, lowercased, with everything but letters,
digits, spaces, `-` and `_` removed and spaces turned into `-`; a repeated
heading gets `-1`, `-2`, ... Links with a scheme (https:, mailto:) are not
checked. Exits 1 naming each link that does not resolve (a CTest test runs it).
"""

import glob
import os
import re
import sys

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
HTML_ANCHOR = re.compile(r"""<a\s[^>]*(?:name|id)\s*=\s*["']([^"']+)["']""", re.I)
# [text](target "title"): text may hold one level of brackets and span lines.
INLINE_LINK = re.compile(
    r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*(<[^>]*>|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)"
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^()]*\)))?\s*\)")
REF_DEF = re.compile(r"^ {0,3}\[([^\]]+)\]:\s*(<[^>]*>|\S+)", re.M)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def strip_code(text):
    """The text with fenced code blocks and code spans blanked (line numbers kept)."""
    out, fence = [], None
    for line in text.split("\n"):
        m = FENCE.match(line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            out.append("")
            continue
        if m:
            fence = m.group(1)
            out.append("")
            continue
        out.append(line)
    text = "\n".join(out)
    # A code span may span lines but not a blank line.
    return re.sub(r"(`+)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)",
                  lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)


def rendered(heading):
    """A heading's text roughly as GitHub renders it (markup removed)."""
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\([^)]*\)", r"\1", heading)  # links
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "")
    text = re.sub(r"(\*+|(?<!\w)_+|_+(?!\w))", "", text)  # emphasis, not snake_case
    return text


def slug(text):
    text = rendered(text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)  # \w: unicode letters, digits and _
    return text.replace(" ", "-")


def anchors(text):
    """The anchors a markdown file defines: heading slugs and HTML name/id anchors."""
    found, seen = set(), {}
    fence = None
    for line in text.split("\n"):
        m = FENCE.match(line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            continue
        if m:
            fence = m.group(1)
            continue
        h = HEADING.match(line)
        if h:
            base = slug(h.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
        found.update(HTML_ANCHOR.findall(line))
    return found


def links(text):
    """(line number, target) of every link outside code."""
    text = strip_code(text)
    for regex in (INLINE_LINK, REF_DEF):
        for m in regex.finditer(text):
            target = m.group(2)
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1]
            yield text.count("\n", 0, m.start()) + 1, target


def check(files):
    cache = {}

    def anchors_of(path):
        if path not in cache:
            with open(path, encoding="utf-8") as f:
                cache[path] = anchors(f.read())
        return cache[path]

    errors, count = [], 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for line, target in links(text):
            if not target or SCHEME.match(target) or target.startswith("//"):
                continue
            count += 1
            where = f"{os.path.relpath(path)}:{line}: ({target})"
            file_part, _, anchor = target.partition("#")
            file_part = re.sub(r"\?.*$", "", file_part)
            if file_part.startswith("/"):
                errors.append(f"{where}: absolute path; use a path relative to the file")
                continue
            dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) \
                if file_part else path
            if not os.path.exists(dest):
                errors.append(f"{where}: {os.path.relpath(dest)} does not exist")
                continue
            if anchor:
                if not dest.endswith(".md") or os.path.isdir(dest):
                    errors.append(f"{where}: an anchor into a file that is not markdown")
                elif anchor not in anchors_of(dest):
                    errors.append(f"{where}: no heading or anchor '#{anchor}' in "
                                  f"{os.path.relpath(dest)}")
    return count, errors


def main(argv):
    paths = argv[1:]
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    if paths and os.path.isdir(paths[0]):
        root = paths.pop(0)
    files = paths or [os.path.join(root, "README.md")] + \
        sorted(glob.glob(os.path.join(root, "docs", "*.md")))
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        sys.exit(f"check_doc_links: no such file: {', '.join(missing)}")
    count, errors = check(files)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        sys.exit(f"check_doc_links: {len(errors)} of {count} relative links in "
                 f"{len(files)} files do not resolve")
    print(f"check_doc_links: {count} relative links in {len(files)} files resolve")


if __name__ == "__main__":
    main(sys.argv)
