#!/usr/bin/env bash
# Build the VS Code extension package (.vsix) that carries the Python package and its dependencies,
# so it works on a machine that has only a Python 3.10+ interpreter: nothing is installed into the
# user's Python.
#   scripts/package-extension.sh                  for this machine's platform
#   scripts/package-extension.sh linux-arm64 ...  for other platforms (wheels are fetched for them)
# Targets: linux-x64 linux-arm64 darwin-x64 darwin-arm64 win32-x64.
#
# Libraries go to extension/bundled/libs: `common/` holds what runs on every Python version (pure
# Python and abi3 wheels, resolved for the oldest), `cp310/` ... `cp314/` what is compiled for one
# version (pydantic-core, cffi); the extension puts `cpXY` and `common` on PYTHONPATH for the
# interpreter it finds (extension/src/python.ts).
set -euo pipefail
cd "$(dirname "$0")/.."

PY_VERSIONS=${PY_VERSIONS:-"3.10 3.11 3.12 3.13 3.14"}
LEAVE_OUT=${LEAVE_OUT:-"SecretStorage jeepney isal msgspec"}
python=${PYTHON:-}
if [ -z "$python" ]; then
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi
case $python in /*) ;; */*) python=$PWD/$python ;; *) python=$(command -v "$python") ;; esac
pip=("$python" -m pip --disable-pip-version-check -q)

host_target() {
  local os arch
  case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; MINGW* | MSYS* | CYGWIN*) os=win32 ;; *) os=unknown ;; esac
  case "$(uname -m)" in x86_64 | amd64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) arch=unknown ;; esac
  echo "$os-$arch"
}

# pip platform tags for a VS Code target: every tag the wheels we need are published under.
platform_tags() {
  local t tags=()
  case "$1" in
    linux-x64) for t in manylinux2014 manylinux_2_17 manylinux_2_28; do tags+=("${t}_x86_64"); done ;;
    linux-arm64) for t in manylinux2014 manylinux_2_17 manylinux_2_28; do tags+=("${t}_aarch64"); done ;;
    darwin-x64) for t in 10_9 10_12 11_0; do tags+=("macosx_${t}_x86_64"); done ;;
    darwin-arm64) for t in 11_0 12_0; do tags+=("macosx_${t}_arm64"); done ;;
    win32-x64) tags+=(win_amd64) ;;
    *) echo "package-extension: unknown target $1" >&2; return 1 ;;
  esac
  printf -- '--platform %s ' "${tags[@]}"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("$(host_target)")

[ -d node_modules ] || npm ci --no-audit --no-fund
version=$(node -p "require('./package.json').version")
mapfile -t readme_urls < <(node extension/readme-urls.mjs)

# Our own package as a wheel, so pip can install it for other Python versions and platforms.
wheel_dir=build/extension-wheel
rm -rf "$wheel_dir"
"${pip[@]}" wheel --no-deps -w "$wheel_dir" . >/dev/null
wheel=$(ls "$wheel_dir"/*.whl)

libs=extension/bundled/libs
# The libraries only belong in the package: without them the checkout runs from source (F5, UI tests).
trap 'rm -rf extension/bundled' EXIT
for target in "${targets[@]}"; do
  tags=$(platform_tags "$target") || exit 2
  rm -rf extension/bundled
  versions=($PY_VERSIONS)
  oldest=${versions[0]}
  pipx() { local v=$1; shift; "${pip[@]}" install --no-compile --only-binary=:all: --implementation cp --python-version "$v" $tags "$@"; }
  # Everything, resolved for the oldest Python: pure-Python and abi3 wheels run on the newer ones too.
  echo "package-extension: $target: libraries (resolved for Python $oldest)" >&2
  # shellcheck disable=SC2086
  pipx "$oldest" --target "$libs/common" "$wheel"
  rm -rf "$libs/common/bin"
  # What the sidecar can do without, left out to keep the package lean (each is optional in the code):
  # SecretStorage and jeepney give keyring the Linux secret service, but the extension keeps the token
  # in VS Code's secret storage and hands it over, and the hooks then read it from the 0600 token file;
  # isal and msgspec speed up verifying bundles, where zlib and pydantic-core give the same result.
  # cryptography (and its cffi) stays: every remote is opened through the end-to-end encryption layer,
  # which needs it (AES-GCM, Argon2id); without it a system copy, too old for Argon2id, was imported
  # and no remote could be used.
  "$python" - "$libs/common" $LEAVE_OUT <<'PY'
import shutil, sys
from pathlib import Path
common, leave_out = Path(sys.argv[1]), {n.lower().replace("-", "_") for n in sys.argv[2:]}
for info in sorted(common.glob("*.dist-info")):
    name = info.name[: -len(".dist-info")].rsplit("-", 1)[0].lower().replace("-", "_")
    if name not in leave_out:
        continue
    for line in (info / "RECORD").read_text().splitlines():
        f = common / line.split(",")[0]
        if line.strip() and not line.startswith("..") and f.is_file():
            f.unlink()
    shutil.rmtree(info, ignore_errors=True)
for d in sorted((p for p in common.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
    if not any(d.iterdir()):
        d.rmdir()
PY
  # Distributions compiled for one Python version (pydantic-core, cffi) move to cpXY/, and are
  # installed again, same version, for each other Python.
  specific=$("$python" - "$libs" "cp${oldest/./}" <<'PY'
import os, re, shutil, sys
from pathlib import Path
libs, abi = Path(sys.argv[1]), sys.argv[2]
common, own = libs / "common", libs / abi
own.mkdir()
compiled = re.compile(r"\.(cpython-3\d+|cp3\d+)[-.]")  # _x.cpython-310-x86_64-linux-gnu.so, _x.cp310-win_amd64.pyd
for info in sorted(common.glob("*.dist-info")):
    files = [line.split(",")[0] for line in (info / "RECORD").read_text().splitlines() if line.strip()]
    if not any(compiled.search(f) for f in files):
        continue
    name, version = info.name[: -len(".dist-info")].rsplit("-", 1)
    print(f"{name}=={version}")
    for f in files:
        src = common / f
        if f.startswith("..") or not src.exists():
            continue
        (own / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(src, own / f)
for d in sorted((p for p in common.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
    if not any(d.iterdir()):
        d.rmdir()
PY
)
  for v in "${versions[@]:1}"; do
    echo "package-extension: $target: compiled libraries for Python $v: $(echo $specific)" >&2
    # shellcheck disable=SC2086
    [ -z "$specific" ] || pipx "$v" --no-deps --target "$libs/cp${v/./}" $specific
  done
  for v in "${versions[@]}"; do
    # Marks the version as carried even when nothing in it is version-specific.
    mkdir -p "$libs/cp${v/./}"
    rm -rf "$libs/cp${v/./}/bin"
    echo "$v" >"$libs/cp${v/./}/python-version.txt"
  done

  # A quick check with this machine's interpreter, when the target is this machine.
  if [ "$target" = "$(host_target)" ]; then
    abi=$("$python" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
    if [ -d "$libs/$abi" ]; then
      # -S: no site-packages, so only the standard library and the bundled libraries can be found.
      # Run from common/, as the extension does, so the repository's own claude_sync is not in sight.
      (cd "$libs/common" && PYTHONPATH="../$abi:." "$python" -S -c 'import claude_sync.lsp, pydantic_core, pygls; print(claude_sync.__file__)') \
        | grep -q "/bundled/libs/common/claude_sync/" \
        || { echo "package-extension: the bundled libraries do not import" >&2; exit 1; }
    fi
  fi

  out="claude-sync-sessions-$version-$target.vsix"
  # The README's images and links point at the repository named in package.json (the extension's
  # page shows only https: images): see extension/readme-urls.mjs.
  npx vsce package --target "$target" --no-dependencies "${readme_urls[@]}" -o "$out" >&2
  echo "package-extension: built $out ($(du -h "$out" | cut -f1))" >&2
done
