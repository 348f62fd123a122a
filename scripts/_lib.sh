# Shared helpers for the project's scripts: find interpreters, build and reuse virtualenvs.
# Sourced, not run. Every venv lives under .venvs/ and is rebuilt only when its inputs change.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENVS="$REPO_ROOT/.venvs"

# Home Assistant releases we test on: name, Python, pytest-homeassistant-custom-component pin, extra pins.
HA_MIN_PYTHON=3.13
HA_MIN_PHCC=0.13.236          # homeassistant==2025.4.4
HA_MIN_EXTRA="pycares<5"      # aiodns 3.2.0 (pinned by 2025.4.4) breaks with pycares 5
HA_CUR_PYTHON=3.14
HA_CUR_PHCC=0.13.375          # homeassistant==2026.10.4
HA_CUR_EXTRA=""

# The demo's Home Assistant (scripts/demo): the current release (2026.11.0; pytest stays on
# HA_CUR_PHCC's 2026.10.4), the frontend it pins in homeassistant/components/frontend/manifest.json,
# and the integration's manifest requirement.
DEMO_PYTHON=$HA_CUR_PYTHON
DEMO_PINS=(homeassistant==2026.11.0 home-assistant-frontend==20261028.4 authlib==1.6.12)

# The acceptance suite (scripts/acceptance): the demo's Home Assistant plus Playwright, which drives
# the system's Chromium, and the lint tools (mypy checks the suite, so it runs where Playwright is);
# and the oldest release as a server, with the frontend its manifest pins (without it Home
# Assistant starts in recovery mode, where custom integrations do not load).
ACCEPTANCE_PINS=("${DEMO_PINS[@]}" playwright==1.65.2 -r "$REPO_ROOT/requirements_test.txt")
HA_MIN_SERVER_PINS=(homeassistant==2025.4.4 home-assistant-frontend==20250411.0 authlib==1.6.12
  "$HA_MIN_EXTRA")

die() { echo "error: $*" >&2; exit 1; }

# find_python 3.13 -> prints an interpreter path, or dies loudly saying where it looked.
find_python() {
  local ver=$1 var="PYTHON${1//./}" candidate
  if [[ -n ${!var:-} ]]; then
    "${!var}" -c 'import ssl, sqlite3' 2>/dev/null && { echo "${!var}"; return; }
    die "\$$var=${!var} is not a working Python $ver"
  fi
  for candidate in "python$ver" \
      "$(command -v pyenv >/dev/null && echo "$(pyenv root)/versions/$ver"*/bin/python"$ver")" \
      "$HOME/.pyenv/versions/$ver"*/bin/python"$ver" \
      "$HOME/.cache/provisioned-python/py$ver/usr/bin/python$ver"; do
    [[ -n $candidate ]] || continue
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import ssl, sqlite3' 2>/dev/null; then
      command -v "$candidate"; return
    fi
  done
  local provision="$REPO_ROOT/../shared/tools/provision-python"
  if [[ -x $provision ]]; then
    "$provision" "$ver" && return
  fi
  die "no Python $ver found. Set $var=/path/to/python$ver, put python$ver on PATH, or install it with pyenv."
}

# uv builds the virtualenvs: on a clean machine four times faster than pip, with the same pins. It is
# installed once, with the pip of any Python 3 found, into a virtualenv of its own.
UV_VERSION=0.13.10

ensure_uv() {  # -> prints the uv binary
  local dir="$VENVS/uv-$UV_VERSION"
  if [[ ! -x $dir/bin/uv ]]; then
    local py; py=$(command -v python3) || die "no python3 on PATH to install uv with"
    rm -rf "$dir"
    "$py" -m venv "$dir" >&2
    "$dir/bin/python" -m pip install --quiet "uv==$UV_VERSION" 2>&1 \
      | grep -v "^WARNING: Location '" >&2 || true
    [[ -x $dir/bin/uv ]] || die "installing uv $UV_VERSION failed"
  fi
  echo "$dir/bin/uv"
}

# ensure_venv NAME PYTHON_VERSION PIP_ARGS... -> prints the venv's bin dir; builds it when its inputs changed.
ensure_venv() {
  local name=$1 ver=$2; shift 2
  local dir="$VENVS/$name" stamp key
  key=$(printf '%s\n' "$ver" "$UV_VERSION" "$@" | cat - "$REPO_ROOT/requirements_test.txt" \
    | sha256sum | cut -c1-16)
  stamp="$dir/.built-$key"
  if [[ ! -f $stamp ]]; then
    local py uv; py=$(find_python "$ver"); uv=$(ensure_uv)
    echo "building virtualenv $name with $py (first use; reused afterwards)" >&2
    rm -rf "$dir"
    "$uv" venv --quiet --python "$py" "$dir" >&2
    "$uv" pip install --quiet --python "$dir/bin/python" "$@" >&2 || die "installing $name failed"
    touch "$stamp"
  fi
  echo "$dir/bin"
}
