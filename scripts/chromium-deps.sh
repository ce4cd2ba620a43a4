#!/usr/bin/env bash
# Install Debian's Chromium and its WebDriver for the MiniWoB++ workflow (headless, offline).
# Does nothing when both are already on PATH. Selenium is given both paths, so it never tries to
# download a driver.
set -euo pipefail
need=()
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "chromium-deps.sh: need root to install ${need[*]} (apt-get install chromium chromium-driver)" >&2; exit 1
fi
echo "installing ${need[*]} from Debian..." >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
