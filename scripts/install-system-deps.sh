#!/usr/bin/env bash
# Install the Debian packages screenshotd needs, only those that are missing.
#
#   scripts/install-system-deps.sh            runtime: Chromium's headless shell (unless a Chromium
#                                             is given), fonts, Python 3 (unless found), what
#                                             Playwright's driver needs
#   scripts/install-system-deps.sh --test     also redis-server, wrk, Debian's full Chromium
#                                             (the benchmarks' baseline) and Node.js, for tests
#                                             and benchmarks
#   scripts/install-system-deps.sh PKG...     also these packages (the Dockerfile adds tini)
#
# The Makefile (make run / make test) and the Dockerfile both call this script, so what is tested
# is what ships. It runs apt-get as root, or through sudo when it is available.
set -euo pipefail

want_test=0
extra=()
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    -*) echo "unknown option: $arg" >&2; exit 2 ;;
    *) extra+=("$arg") ;;
  esac
done

packages=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

for pkg in "${extra[@]}"; do
  have_pkg "$pkg" || packages+=("$pkg")
done

# Chromium: an explicit CHROMIUM_PATH or Playwright's own download will do; otherwise Debian's
# headless shell (Chromium's old headless mode), which screenshotd prefers to the full browser:
# a capture costs it about a third of the CPU.
if [ -n "${CHROMIUM_PATH:-}" ] && [ -x "${CHROMIUM_PATH}" ]; then
  :
elif ls "${PLAYWRIGHT_BROWSERS_PATH:-$HOME/.cache/ms-playwright}"/chromium*/chrome-*/*headless_shell >/dev/null 2>&1; then
  :
else
  have_pkg chromium-headless-shell || packages+=(chromium-headless-shell)
fi

# Fonts for Latin, emoji and CJK pages; CA certificates for https; libatomic1 for the Node.js
# driver inside the playwright wheel (slim images lack it, and the driver then dies at start).
for pkg in fonts-liberation fonts-noto-color-emoji fonts-noto-cjk ca-certificates libatomic1; do
  have_pkg "$pkg" || packages+=("$pkg")
done

# Python 3.11+ (a slim Debian base has none), and ensurepip for `python3 -m venv`, which Debian
# ships separately.
if ! command -v python3 >/dev/null 2>&1; then
  packages+=(python3 python3-venv)
elif ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  packages+=(python3-venv)
fi

if [ "$want_test" = 1 ]; then
  command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
  command -v wrk >/dev/null 2>&1 || packages+=(wrk)
  command -v chromium >/dev/null 2>&1 || packages+=(chromium)
  # a certificate for the https upstream proxy of tests/integration/test_proxies.py
  command -v openssl >/dev/null 2>&1 || packages+=(openssl)
  # Node.js runs the seed APIs' own JavaScript examples (tests/integration/test_seed_examples.py)
  command -v node >/dev/null 2>&1 || command -v nodejs >/dev/null 2>&1 || packages+=(nodejs)
fi

if [ ${#packages[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

if [ "$(id -u)" = 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "missing Debian packages: ${packages[*]}" >&2
  echo "install them as root: apt-get install ${packages[*]}" >&2
  exit 1
fi

echo "installing Debian packages: ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"
