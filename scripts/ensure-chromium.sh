#!/usr/bin/env bash
# Prints the path of the Chromium the dashboard's browser tests drive (headless, through chromedp):
# $DBFLEET_CHROMIUM when set, else Debian's chromium, installed with apt-get first when it is
# missing. Nothing else is downloaded.
set -euo pipefail

if [[ -n "${DBFLEET_CHROMIUM:-}" ]]; then
  if [[ -x "$DBFLEET_CHROMIUM" ]]; then
    echo "$DBFLEET_CHROMIUM"
    exit 0
  fi
  echo "ensure-chromium: DBFLEET_CHROMIUM=$DBFLEET_CHROMIUM is not an executable" >&2
  exit 1
fi

find_chromium() {
  local path
  for path in /usr/bin/chromium "$(command -v chromium 2>/dev/null || true)"; do
    if [[ -n "$path" && -x "$path" ]]; then
      echo "$path"
      return 0
    fi
  done
  return 1
}

if find_chromium; then
  exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
  echo "ensure-chromium: chromium not found; install it as root: apt-get install -y chromium" >&2
  exit 1
fi
echo "ensure-chromium: installing Chromium (apt-get install -y chromium)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium >&2

if ! find_chromium; then
  echo "ensure-chromium: chromium is installed but was not found" >&2
  exit 1
fi
