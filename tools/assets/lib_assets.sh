# Helpers shared by setup_assets.sh and fetch_lexicon.sh (sourced; the caller sets LOCK, the
# assets.lock path, and DL, the download folder): messages, Debian packages, assets.lock rows
# and pinned npm fetches.

IS_ROOT=0; [ "$(id -u)" = 0 ] && IS_ROOT=1
STEP_T=$SECONDS
step() { echo; echo "==> $*"; STEP_T=$SECONDS; }
info() { echo "    $*"; }
done_step() { info "done in $((SECONDS - STEP_T))s"; }
warn() { echo "    WARNING: $*" >&2; }
die() { echo "ERROR: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# Install Debian packages when root, otherwise explain what is missing.
need_pkgs() {  # need_pkgs "why" pkg...
  local why="$1"; shift
  if [ "$IS_ROOT" = 1 ]; then
    info "installing Debian packages for $why: $*"
    if ! apt-get install -y --no-install-recommends "$@" >/dev/null; then
      apt-get update >/dev/null || die "apt-get update failed"
      apt-get install -y --no-install-recommends "$@" >/dev/null || die "apt-get install $* failed"
    fi
  else
    die "$why needs: $* (not root: run 'sudo apt-get install $*' first)"
  fi
}

lock_rows() {  # lock_rows KIND -> TAB-separated rows of that kind
  awk -F'\t' -v k="$1" '$0 !~ /^#/ && NF >= 6 && $1 == k' "$LOCK"
}

# npm_fetch NAME SHA256 SPEC SHA1 WHY SIZE: `npm pack SPEC` into $DL/NAME unless it is there with
# the pinned sha256; both the sha256 and npm's sha1 must match assets.lock.
npm_fetch() {
  local name="$1" want="$2" spec="$3" sha1="$4" why="$5" size="$6" dst="$DL/$1" tmpd f got got1
  if [ -f "$dst" ] && [ "$(sha "$dst")" = "$want" ]; then
    info "$name: cached, sha256 ok"; return 0
  fi
  command -v npm >/dev/null || need_pkgs "$why (npm pack)" npm
  info "npm pack $spec (~$size)"
  tmpd="$(mktemp -d "$DL/npm.XXXXXX")"
  (cd "$tmpd" && npm pack "$spec" --silent --pack-destination "$tmpd" >/dev/null 2>"$tmpd/npm.log") \
    || { cat "$tmpd/npm.log" >&2; rm -rf "$tmpd"; die "npm pack $spec failed"; }
  f="$tmpd/$name"
  [ -f "$f" ] || { rm -rf "$tmpd"; die "npm pack did not produce $name"; }
  got="$(sha "$f")"; got1="$(sha1sum "$f" | cut -d' ' -f1)"
  if [ "$got" != "$want" ] || [ "$got1" != "$sha1" ]; then
    rm -rf "$tmpd"; die "$name: sha256 $got / sha1 $got1 do not match assets.lock"
  fi
  mv "$f" "$dst"; rm -rf "$tmpd"
  info "$name: sha256 + npm sha1 ok ($(stat -c %s "$dst") bytes)"
}
