#!/usr/bin/env bash
# Installs what the browser tests need, into a cache outside the checkout: Debian's chromium (and
# Node.js with npm when missing), and the pinned playwright-core from browser/package-lock.json,
# driving that chromium (never a browser build of Playwright's own: no `playwright install`).
# Writes $BROWSER_HOME/browser.env, which `make test` sources. Idempotent: a warm run takes about
# a second.
set -euo pipefail

BROWSER_HOME="${BROWSER_HOME:-$HOME/.cache/metal-browser}"
here="$(cd "$(dirname "$0")" && pwd)"
pkg="$here/../browser"
mkdir -p "$BROWSER_HOME"

# 1. Debian packages: chromium, and node/npm for the test files.
need_apt=()
for pair in chromium:chromium node:nodejs npm:npm; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_apt+=("${pair##*:}")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "browser: apt-get install ${need_apt[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "browser: WARNING cannot install ${need_apt[*]} (not root or no apt-get)" >&2
  fi
fi

# 2. playwright-core, in a directory keyed by the lockfile, so a change of pins installs anew.
key=$(cat "$pkg/package.json" "$pkg/package-lock.json" | sha256sum | cut -c1-12)
modules="$BROWSER_HOME/npm-$key"
if [ ! -f "$modules/.complete" ]; then
  if command -v npm >/dev/null; then
    echo "browser: npm ci into $modules"
    rm -rf "$modules"; mkdir -p "$modules"
    cp "$pkg/package.json" "$pkg/package-lock.json" "$modules/"
    (cd "$modules" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$modules/.complete"
  else
    echo "browser: WARNING npm missing; playwright-core not installed" >&2
  fi
fi

cat > "$BROWSER_HOME/browser.env" <<ENV
export BROWSER_NODE_MODULES="$modules/node_modules"
export BROWSER_CHROMIUM="$(command -v chromium || echo /usr/bin/chromium)"
ENV
echo "browser: ready ($BROWSER_HOME/browser.env)"
