#!/usr/bin/env bash
# Install the Debian packages screenshotd needs, only those that are missing.
#
#   scripts/install-system-deps.sh            runtime: Chromium (unless one is found), fonts
#   scripts/install-system-deps.sh --test     also redis-server and wrk, for tests and benchmarks
#
# The Makefile (make run / make test) and the Dockerfile both call this script, so what is tested
# is what ships. It runs apt-get as root, or through sudo when it is available.
set -euo pipefail

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

packages=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# Chromium: an explicit CHROMIUM_PATH, Debian's package, or Playwright's own download will do.
if [ -n "${CHROMIUM_PATH:-}" ] && [ -x "${CHROMIUM_PATH}" ]; then
  :
elif command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  :
elif ls "${PLAYWRIGHT_BROWSERS_PATH:-$HOME/.cache/ms-playwright}"/chromium-*/chrome-linux*/chrome >/dev/null 2>&1; then
  :
else
  packages+=(chromium)
fi

for pkg in fonts-liberation fonts-noto-color-emoji fonts-noto-cjk ca-certificates; do
  have_pkg "$pkg" || packages+=("$pkg")
done

# python3 -m venv needs ensurepip, which Debian ships separately.
if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  packages+=(python3-venv)
fi

if [ "$want_test" = 1 ]; then
  command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
  command -v wrk >/dev/null 2>&1 || packages+=(wrk)
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
