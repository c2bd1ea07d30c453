#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the browser test of Swagger UI (tests/e2e/test_swagger_ui.py).
#
#   scripts/install-chromium.sh
#
# Idempotent: exits 0 at once when /usr/bin/chromium and /usr/bin/chromedriver are both there.
# Otherwise installs Debian's `chromium` and `chromium-driver` with apt-get (root only; CI runs as
# root), running `apt-get update` first only if the install fails for want of package lists.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver
PACKAGES=(chromium chromium-driver)

log() { echo "install-chromium: $*" >&2; }

both_present() { [[ -x $CHROMIUM && -x $CHROMEDRIVER ]]; }

if both_present; then
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    log "$CHROMIUM or $CHROMEDRIVER is missing and this is not root, so it cannot be installed here."
    log "Install it yourself: sudo apt-get install -y ${PACKAGES[*]}"
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log "installing ${PACKAGES[*]} with apt-get"
if ! apt-get install -y --no-install-recommends "${PACKAGES[@]}"; then
    log "apt-get install failed; refreshing the package lists and trying once more"
    apt-get update
    apt-get install -y --no-install-recommends "${PACKAGES[@]}"
fi

if ! both_present; then
    log "apt-get finished but $CHROMIUM or $CHROMEDRIVER is still missing"
    exit 1
fi
log "ready: $("$CHROMIUM" --version 2>/dev/null || echo chromium), $("$CHROMEDRIVER" --version 2>/dev/null || echo chromedriver)"
