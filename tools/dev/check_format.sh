#!/usr/bin/env bash
# Checks (or with --fix, applies) the house C++ format (.clang-format) on every
# C++ source of the project; generated and third-party code is not ours.
#
#   tools/dev/check_format.sh [--fix]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FORMAT="${CLANG_FORMAT:-$(command -v clang-format-14 || command -v clang-format || true)}"
[ -n "$FORMAT" ] || { echo "check_format: clang-format-14 missing (tools/install_deps.sh)" >&2; exit 1; }
cd "$REPO"
mapfile -t files < <(find util core server index bench client tests \
  \( -name '*.cc' -o -name '*.h' \) -not -path 'tests/testdata/*' | sort)
if [ "${1:-}" = "--fix" ]; then
  "$FORMAT" -i --style=file "${files[@]}"
  echo "check_format: formatted ${#files[@]} files"
  exit 0
fi
if ! report="$("$FORMAT" --dry-run --Werror --style=file "${files[@]}" 2>&1)"; then
  grep -E '^[^ ].*: error:' <<< "$report" | cut -d: -f1 | sort -u | sed 's/^/  /'
  echo "check_format: the files above differ from .clang-format; run tools/dev/check_format.sh --fix" >&2
  exit 1
fi
echo "check_format: ${#files[@]} files follow .clang-format"
