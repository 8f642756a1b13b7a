#!/usr/bin/env bash
# Validate (sam validate --lint, which runs cfn-lint), check (checkov) and build (sam build)
# template.yaml with a pinned AWS SAM CLI and checkov.
#
# Usage (from anywhere; the script works in the repository that contains it):
#   bash infra/sam-check.sh
#
# - The SAM CLI lives in its own virtualenv, .venv-sam/ (created on first use), so it never
#   mixes with the project's .venv.
# - No AWS account is needed: the region defaults to us-east-1 and, when no credentials are
#   configured, dummy ones are exported (validate/lint and build make no AWS calls).
# - sam build needs a python3.12 for the python3.12 runtime. It is looked up on PATH, then
#   under pyenv. Without one, the build is skipped (after validate) and the script exits 0.
set -euo pipefail

SAM_CLI_VERSION="1.170.0"
CHECKOV_VERSION="3.3.30"
BUILD_DIR=".aws-sam/build"
LAYER_ID="DeciderLayer"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

log() { printf '==> %s\n' "$*"; }
die() { printf 'sam-check: FAILED: %s\n' "$*" >&2; exit 1; }

export SAM_CLI_TELEMETRY=0
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_REGION="${AWS_REGION:-$AWS_DEFAULT_REGION}"
export AWS_EC2_METADATA_DISABLED=true   # never wait on an instance-metadata endpoint
if [[ -z "${AWS_ACCESS_KEY_ID:-}" && -z "${AWS_PROFILE:-}" ]]; then
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
fi

# --- 1. SAM CLI in .venv-sam ------------------------------------------------------------
SAM="$ROOT/.venv-sam/bin/sam"
installed=""
if [[ -x "$SAM" ]]; then
    installed="$("$SAM" --version 2>/dev/null | awk '{print $NF}')" || installed=""
fi
if [[ "$installed" != "$SAM_CLI_VERSION" ]]; then
    log "installing aws-sam-cli==$SAM_CLI_VERSION into .venv-sam/"
    t0=$SECONDS
    [[ -x .venv-sam/bin/python ]] || python3 -m venv .venv-sam
    # (This machine's pip config lists local index dirs that may be absent: drop that noise.)
    {
        .venv-sam/bin/python -m pip install --quiet --upgrade pip
        .venv-sam/bin/python -m pip install --quiet "aws-sam-cli==$SAM_CLI_VERSION"
    } 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
    log "installed in $((SECONDS - t0))s"
fi
log "$("$SAM" --version)"

# --- 2. validate + lint -----------------------------------------------------------------
log "sam validate --lint --template template.yaml (region $AWS_DEFAULT_REGION)"
"$SAM" validate --lint --template template.yaml

# --- 2b. checkov, in its own .venv-checkov: every finding fixed or skipped with its reason --
CHECKOV="$ROOT/.venv-checkov/bin/checkov"
if [[ "$("$CHECKOV" --version 2>/dev/null || true)" != "$CHECKOV_VERSION" ]]; then
    log "installing checkov==$CHECKOV_VERSION into .venv-checkov/"
    python3 -m venv "$ROOT/.venv-checkov"
    "$ROOT/.venv-checkov/bin/pip" install --quiet --upgrade pip
    "$ROOT/.venv-checkov/bin/pip" install --quiet "checkov==$CHECKOV_VERSION"
fi
log "checkov -f template.yaml (skips carry their reasons in the template's Metadata)"
"$CHECKOV" -f template.yaml --framework cloudformation --compact --quiet --skip-download

# --- 3. build ---------------------------------------------------------------------------
# A working python3.12 (a pyenv shim on PATH may exist but fail, so each one is run).
find_python312() {
    local candidates=() c dir
    c="$(command -v python3.12 2>/dev/null || true)"
    [[ -n "$c" ]] && candidates+=("$c")
    if command -v pyenv >/dev/null 2>&1; then
        dir="$(pyenv root 2>/dev/null || true)"
        [[ -n "$dir" ]] && candidates+=("$dir"/versions/3.12.*/bin/python3.12)
    fi
    candidates+=(/root/.pyenv/versions/3.12.*/bin/python3.12)
    for c in "${candidates[@]}"; do
        if [[ -x "$c" ]] && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' \
            >/dev/null 2>&1; then
            # A shim resolves to the real interpreter; PATH needs the real one's directory.
            "$c" -c 'import os, sys; print(os.path.dirname(os.path.realpath(sys.executable)))'
            return 0
        fi
    done
    return 1
}

if ! py312_dir="$(find_python312)"; then
    echo "SKIPPED sam build: no python3.12 on this machine"
    exit 0
fi
export PATH="$py312_dir:$PATH"
log "python3.12 for the build: $py312_dir/python3.12"

log "sam build --build-dir $BUILD_DIR"
t0=$SECONDS
"$SAM" build --template template.yaml --build-dir "$BUILD_DIR"
log "sam build took $((SECONDS - t0))s"

# --- 4. check the build output ----------------------------------------------------------
log "checking $BUILD_DIR"
"$ROOT/.venv-sam/bin/python" - "$BUILD_DIR" "$LAYER_ID" <<'PY'
import os
import sys

from samcli.yamlhelper import yaml_parse

build_dir, layer_id = sys.argv[1], sys.argv[2]
with open(os.path.join(build_dir, "template.yaml")) as f:
    resources = yaml_parse(f.read()).get("Resources", {})

problems = []
layer = os.path.join(build_dir, layer_id)
# The dashboard page is read when the admin function starts: it must ship with the layer.
for rel in ("python/decider/__init__.py", "python/decider/control/dashboard.html",
            "python/vowpal_wabbit_next",
            # bytecode for a read-only /opt (shared/Makefile)
            "python/decider/__pycache__/__init__.cpython-312.pyc"):
    if not os.path.exists(os.path.join(layer, rel)):
        problems.append(f"layer {layer_id}: missing {rel}")

functions = [k for k, v in resources.items() if v.get("Type") == "AWS::Serverless::Function"]
if not functions:
    problems.append("no AWS::Serverless::Function in the built template")
for name in sorted(functions):
    code = os.path.join(build_dir, name)
    if not os.path.isfile(os.path.join(code, "app.py")):
        problems.append(f"function {name}: missing {code}/app.py")
    else:
        print(f"    ok  {name}/app.py")
if problems:
    print("\n".join("    FAIL " + p for p in problems), file=sys.stderr)
    sys.exit(1)
print(f"    ok  {layer_id}/python/decider/__init__.py, control/dashboard.html, vowpal_wabbit_next")
PY
# --- 5. the built layer imports, as Lambda's python3.12 would (no bytecode written) -------
if [[ -x "$ROOT/.venv/bin/python" ]]; then
    log "importing the decide function from the built layer with python3.12"
    decide_env="$("$ROOT/.venv/bin/python" -c '
import sys; sys.path[:0] = ["shared", "."]
from infra.stack import LocalStack
print(" ".join(f"{k}={v}" for k, v in LocalStack().environment("DecideFunction").items()
               if " " not in v))')"
    (cd "$BUILD_DIR/DecideFunction" && env $decide_env PYTHONDONTWRITEBYTECODE=1 \
        PYTHONPATH="$ROOT/$BUILD_DIR/$LAYER_ID/python:." python3.12 -c '
import time
started = time.perf_counter()
import app  # noqa: F401
print(f"    ok  import app: {time.perf_counter() - started:.2f} s")') || die "the layer does not import"
    log "layer: $(du -sh "$BUILD_DIR/$LAYER_ID" | cut -f1) unzipped"
fi
log "sam-check: OK (validate --lint clean, checkov clean, build complete)"
