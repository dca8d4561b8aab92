#!/usr/bin/env bash
# Prints the path of the ShellCheck that `make lint` runs over scripts/ and .ci/: the shellcheck on
# PATH, else Debian's shellcheck, installed with apt-get first. Nothing else is downloaded.
set -euo pipefail

if command -v shellcheck; then
  exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "ensure-shellcheck: shellcheck not found; install it as root: apt-get install -y shellcheck" >&2
  exit 1
fi
echo "ensure-shellcheck: installing ShellCheck (apt-get install -y shellcheck)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends shellcheck >&2
if ! command -v shellcheck; then
  echo "ensure-shellcheck: shellcheck is installed but not on PATH ($PATH)" >&2
  exit 1
fi
