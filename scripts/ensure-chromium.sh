#!/bin/sh
# Installs Debian's Chromium when missing (the browser tests in test/browser drive it
# through playwright-core at /usr/bin/chromium). Needs root.
set -eu
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium is missing; run as root: apt-get update && apt-get install -y chromium" >&2
  exit 1
fi
# Other setup scripts may run apt at the same time: wait for dpkg's lock instead of failing.
exec flock /tmp/apt-chromium.lock sh -c 'test -x /usr/bin/chromium || (apt-get -o DPkg::Lock::Timeout=600 update && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends chromium fonts-dejavu-core)'
