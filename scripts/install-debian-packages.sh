#!/bin/sh
# Install the Debian packages the test suite needs, e.g.
#   scripts/install-debian-packages.sh clickhouse-server opencv-doc
# clickhouse-server (18.16) for the `clickhouse_server` fixture; opencv-doc for its real footage
# (/usr/share/doc/opencv-doc/examples/data/: vtest.avi, basketball1.png, messi5.jpg ...).
#
# Idempotent: installs only what is missing. Must run as root when something is missing.
# The tests start the server themselves as a child process on free loopback ports, so no system
# service is left running: policy-rc.d forbids service starts during the install, and any
# instance the package scripts started anyway is stopped afterwards.
set -eu

missing=""
for package in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $package"
    fi
done
if [ -z "$missing" ]; then
    echo "already installed: $*"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-debian-packages.sh: run as root to install$missing (it calls apt-get)" >&2
    exit 1
fi

# Tell invoke-rc.d not to start services while packages install (exit 101 = action forbidden).
policy=/usr/sbin/policy-rc.d
created_policy=no
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=yes
fi
cleanup() {
    if [ "$created_policy" = yes ]; then rm -f "$policy"; fi
}
trap cleanup EXIT

apt-get update
# shellcheck disable=SC2086  # one word per package
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing

# Belt and braces: stop a service instance if one came up despite policy-rc.d (no systemd here
# usually, so both calls may simply fail).
if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now clickhouse-server >/dev/null 2>&1 || true
fi
if command -v service >/dev/null 2>&1; then
    service clickhouse-server stop >/dev/null 2>&1 || true
fi

echo "installed:$missing"
