#!/usr/bin/env bash
# Runs a command with the services it needs started on loopback, and stops afterwards only what it
# started (a service that already answers is used and left running). What cannot be started because
# its Debian package is missing is named, with the one line that installs everything.
#   with-services.sh test CMD...   PostgreSQL, Redis, a Docker Engine (the test suite; sshd and nginx are checked)
#   with-services.sh demo CMD...   a Docker Engine when docker.io is installed, PostgreSQL when its server is (the demo runs without them too)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES="postgresql redis-server docker.io openssh-server openssh-client nginx busybox-static systemd prometheus chromium"
INSTALL_LINE="apt-get install -y --no-install-recommends $PACKAGES"

mode=$1; shift
missing=()
if [ "$mode" = test ]; then
  for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    printf 'make test needs Debian packages that are not installed: %s\ninstall them (as root) with:\n  %s\n' "${missing[*]}" "$INSTALL_LINE" >&2
    exit 1
  fi
fi

# A directory of its own, so that only what this run starts is stopped at its end.
if [ -z "${OTM_SERVICES_DIR:-}" ]; then
  OTM_SERVICES_DIR=$(mktemp -d /tmp/otm-services.XXXXXX)
  trap 'bash scripts/services.sh stop || true; rm -rf "$OTM_SERVICES_DIR"' EXIT
else
  trap 'bash scripts/services.sh stop || true' EXIT
fi
export OTM_SERVICES_DIR
case "$mode" in
  test) bash scripts/services.sh start ;;
  demo)
    if command -v dockerd >/dev/null || docker info >/dev/null 2>&1; then bash scripts/services.sh start docker
    else echo "no Docker Engine (package docker.io): the demo runs the simulator without containers" >&2; fi
    if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then bash scripts/services.sh start postgres
    else echo "no PostgreSQL server (package postgresql): the demo runs the daemon without otm web" >&2; fi ;;
  *) echo "usage: with-services.sh test|demo CMD..." >&2; exit 2 ;;
esac
[ -f "$OTM_SERVICES_DIR/env" ] && . "$OTM_SERVICES_DIR/env"
"$@"
