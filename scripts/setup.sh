#!/usr/bin/env bash
# Installs what Reptile needs, only when it is missing: quick and silent when all is there.
# System: pkg-config, HDF5 (+ h5dump), libpng, OpenBLAS, zlib (apt-get).
# Python (interoperability tests only): h5py and Pillow (pip).
set -euo pipefail

missing=()
for package in pkg-config libhdf5-dev hdf5-tools libpng-dev libopenblas-dev zlib1g-dev; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    sudo_prefix=""
    [ "$(id -u)" -ne 0 ] && sudo_prefix="sudo"
    $sudo_prefix apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_prefix apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${REPTILE_SKIP_PYTHON:-0}" != "1" ]; then
    if ! command -v python3 >/dev/null 2>&1; then
        echo "setup: python3 is missing (needed by the interoperability tests only); install python3 and python3-pip" >&2
        exit 1
    fi
    if ! python3 -c "import h5py, PIL" >/dev/null 2>&1; then
        echo "setup: installing h5py and Pillow for python3 (interoperability tests)" >&2
        python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore h5py Pillow
    fi
fi
