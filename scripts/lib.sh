# Shared by scripts/demo and scripts/test: find Python 3.11+, make .venv, install the project.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1

find_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  echo "log-sidecar needs Python 3.11 or newer (apt-get install python3)" >&2
  return 1
}

# apt_install STEP PACKAGE...: Debian packages, as root or through password-less sudo. When that
# cannot be done it says why and returns 1, so the caller can carry on without (its tests skip).
apt_install() {
  local step="$1" sudo=""
  shift
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$step: apt-get not found; install $* yourself" >&2
    return 1
  fi
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      echo "$step: not root and no password-less sudo; cannot install $*" >&2
      return 1
    fi
  fi
  echo "$step: installing $*" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

ensure_venv() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    return 0
  fi
  local python; python="$(find_python)"
  rm -rf "$VENV"
  if ! "$python" -m venv "$VENV" 2>/dev/null; then
    # Debian and Ubuntu ship venv (ensurepip) separately from python3.
    local version; version="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    apt_install "venv" "python${version}-venv" || apt_install "venv" python3-venv
    rm -rf "$VENV"
    "$python" -m venv "$VENV"
  fi
}

# Installs the project (and extras, e.g. "test") only when pyproject.toml changed since last time.
ensure_installed() {
  local extras="${1:-}" spec="$ROOT" stamp
  [ -n "$extras" ] && spec="$ROOT[$extras]"
  stamp="$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)-${extras:-base}"
  if [ ! -f "$stamp" ]; then
    echo "installing log-sidecar${extras:+ with $extras extras} into .venv (log: .venv/install.log)" >&2
    if ! { "$VENV/bin/python" -m pip install -q --upgrade pip &&
           "$VENV/bin/python" -m pip install -q -e "$spec"; } >"$VENV/install.log" 2>&1; then
      cat "$VENV/install.log" >&2
      return 1
    fi
    touch "$stamp"
  fi
}
