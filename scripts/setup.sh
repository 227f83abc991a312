#!/usr/bin/env bash
# Installs what Reptile needs, only when it is missing: quick and silent when all is there.
# System: pkg-config, HDF5 (+ h5dump), libpng, libjpeg-turbo, OpenBLAS, zlib (apt-get).
# Python (interoperability tests only): python3 with h5py and Pillow (pip, else Debian's packages).
# Models: all-MiniLM-L6-v2 and SmolLM2-135M-Instruct under models/ (scripts/fetch-models.sh; skip with
# REPTILE_SKIP_MODELS=1).
set -euo pipefail

apt_install() {
    echo "setup: installing $* (apt-get)" >&2
    sudo_prefix=""
    [ "$(id -u)" -ne 0 ] && sudo_prefix="sudo"
    $sudo_prefix apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_prefix apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
for package in pkg-config libhdf5-dev hdf5-tools libpng-dev libjpeg62-turbo-dev libopenblas-dev zlib1g-dev; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi

if [ "${REPTILE_SKIP_PYTHON:-0}" != "1" ]; then
    # A fresh machine may have no Python at all: Debian's own, with its h5py and Pillow packages.
    if ! command -v python3 >/dev/null 2>&1; then
        apt_install python3 python3-pip python3-h5py python3-pil
    fi
    if ! python3 -c "import h5py, PIL" >/dev/null 2>&1; then
        echo "setup: installing h5py and Pillow for python3 (interoperability tests)" >&2
        # pip first (any python3); a Debian python that refuses pip (PEP 668) gets the apt packages.
        python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore h5py Pillow \
            || apt_install python3-h5py python3-pil
    fi
    if ! python3 -c "import h5py, PIL" >/dev/null 2>&1; then
        echo "setup: python3 cannot import h5py and Pillow (needed by the interoperability tests); install them for $(command -v python3)" >&2
        exit 1
    fi
fi

if [ "${REPTILE_SKIP_MODELS:-0}" != "1" ]; then
    "$(dirname "${BASH_SOURCE[0]}")/fetch-models.sh"
fi
