#!/usr/bin/env python3
"""Checks that includes follow the layers of the source tree.

    /usr/bin/python3 tools/dev/check_layers.py [REPO]

Each folder may include its own headers and those of the folders listed for
it below, nothing else (third-party and generated headers are not checked).
A request flows down this table: decode (core/image) -> tag (core/models) ->
query (core/query) -> search (core/index through core/bundle) -> rerank
(core/recommender) -> respond (server/). An include that runs back up (core
including server, core/index including core/models, ...) fails the check, as
does a folder missing from the table. The CMake libraries mirror the table, so
the linker enforces the same thing for symbols.
"""

import os
import re
import sys

# folder -> folders it may include from (besides itself).
ALLOWED = {
    "util": [],
    "core/image": ["util"],
    "core/words": ["util"],
    "core/text": ["util"],
    "core/index": ["util"],
    "core/models": ["core/image", "core/words", "core/text", "util"],
    "core/bundle": ["core/index", "core/words", "util"],
    "core": ["core/models", "core/bundle", "core/image", "core/words", "core/index", "core/text",
             "util"],
    "server": ["core", "core/models", "core/bundle", "core/image", "core/words", "core/index",
               "util", "proto"],
    "server/http": ["server", "core", "core/models", "core/bundle", "core/image", "core/words",
                    "util", "proto"],
    "index": ["core/bundle", "core/models", "core/words", "core/text", "util"],
    "bench": ["core", "core/models", "core/bundle", "core/image", "core/words", "core/index",
              "core/text", "server", "util"],
    "client": ["util", "proto"],
    "client/examples": ["proto"],
}
# Files that put the layers together and may include more than their folder.
# server/server.{h,cc} (ServerOptions, Server) starts the gRPC service and
# the HTTP gateway, which itself sits on the service's request checks.
FILE_ALLOWED = {
    "server/server.h": ["server/http"],
    "server/server.cc": ["server/http"],
}
# Headers of generated code or other projects, by first path component.
EXTERNAL = {"absl", "grpc", "grpcpp", "google", "nlohmann", "catch2", "benchmark",
            "prometheus", "torch", "ATen", "c10", "opencv2", "faiss", "openssl"}
PROTO_PREFIXES = ("image2song/v1/", "grpc/health/")
CHECKED = ["util", "core", "server", "index", "bench", "client"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def folder_of(path):
    return os.path.dirname(path)


def owner(header):
    """The folder a project header belongs to, or None when it is not ours."""
    if header.startswith(PROTO_PREFIXES):
        return "proto"
    first = header.split("/", 1)[0]
    if first in EXTERNAL or "/" not in header:
        return None
    return folder_of(header)


def main():
    repo = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), "..", ".."))
    problems = []
    files = 0
    for top in CHECKED:
        for root, _, names in os.walk(os.path.join(repo, top)):
            for name in sorted(names):
                if not name.endswith((".cc", ".h")):
                    continue
                path = os.path.relpath(os.path.join(root, name), repo)
                folder = folder_of(path)
                if folder not in ALLOWED:
                    problems.append(f"{path}: folder {folder} is not in the layer table")
                    continue
                files += 1
                with open(os.path.join(repo, path), encoding="utf-8") as f:
                    for line_no, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = owner(m.group(1))
                        if target is None or target == folder:
                            continue
                        if (target not in ALLOWED[folder] and
                                target not in FILE_ALLOWED.get(path, [])):
                            problems.append(f"{path}:{line_no}: includes {m.group(1)} "
                                            f"({folder} may include {ALLOWED[folder] or 'nothing'})")
    for p in problems:
        print(p)
    if problems:
        sys.exit(f"check_layers: {len(problems)} include(s) against the layers")
    print(f"check_layers: {files} files, every include follows the layers")


if __name__ == "__main__":
    main()
