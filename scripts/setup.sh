#!/usr/bin/env bash
# Installs what cortex-bridge needs, idempotently: Java and Clojure from Debian's
# packages when missing, then a virtual environment in .venv with the package and its
# test tools. Used by `make demo` and `make test`; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
if ! command -v clojure >/dev/null 2>&1 && [ ! -f /usr/share/java/clojure.jar ]; then
    missing+=(clojure)
fi
[ -f /usr/share/java/nrepl.jar ] || missing+=(libnrepl-clojure)
[ -f /usr/share/java/nippy.jar ] || missing+=(libnippy-clojure)  # importing Cortex .nippy files
command -v dot >/dev/null 2>&1 || missing+=(graphviz)  # SVG/PNG network diagrams
command -v rlwrap >/dev/null 2>&1 || missing+=(rlwrap)  # line editing in `cortex-bridge repl`
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]} from Debian's packages" >&2
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=""
    elif command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "setup: please install as root: apt-get update && apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# torch 2.13.0 from pip's index unless told otherwise. TORCH_SPEC holds pip arguments,
# e.g. TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" for
# the CPU build from PyTorch's own index (PyPI's Linux wheels carry CUDA, several GB).
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    # shellcheck disable=SC2086  # word splitting wanted: TORCH_SPEC is a list of arguments
    .venv/bin/pip install -q ${TORCH_SPEC:-torch==2.13.0}
fi
.venv/bin/pip install -q -e ".[test]"
# Precompile the Clojure namespaces (jvm/classes): the REPL starts ~0.4 s sooner. Used
# only while they match jvm/src; a failure here only means loading from source.
.venv/bin/python -m bridge.jvm.aot || true
