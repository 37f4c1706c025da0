#!/bin/sh
# Installs Debian's dovecot-imapd when missing (the email IMAP tests start a private Dovecot
# from it; test/helpers/dovecot.ts does the same on its own). Needs root.
set -eu
if [ -x /usr/sbin/dovecot ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "dovecot-imapd is missing; run as root: apt-get update && apt-get install -y dovecot-imapd" >&2
  exit 1
fi
exec flock /tmp/apt-dovecot.lock sh -c 'test -x /usr/sbin/dovecot || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-imapd)'
