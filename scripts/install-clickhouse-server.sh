#!/bin/sh
# Install Debian's clickhouse-server (18.16) for the test suite's `clickhouse_server` fixture.
#
# Idempotent: does nothing when the binary is already there. Debian installs it as
# /usr/sbin/clickhouse-server (not /usr/bin); both are accepted. Must run as root.
# The tests start the server themselves as a child process on free loopback ports, so no system
# service is left running: policy-rc.d forbids service starts during the install, and any
# instance the package scripts started anyway is stopped afterwards.
set -eu

for bin in /usr/bin/clickhouse-server /usr/sbin/clickhouse-server; do
    if [ -x "$bin" ]; then
        echo "clickhouse-server already installed: $bin"
        exit 0
    fi
done

if [ "$(id -u)" -ne 0 ]; then
    echo "install-clickhouse-server.sh: run as root (it calls apt-get)" >&2
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
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clickhouse-server

# Belt and braces: stop a service instance if one came up despite policy-rc.d (no systemd here
# usually, so both calls may simply fail).
if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now clickhouse-server >/dev/null 2>&1 || true
fi
if command -v service >/dev/null 2>&1; then
    service clickhouse-server stop >/dev/null 2>&1 || true
fi

# 18.16's server binary has no --version flag; report the path instead.
echo "installed: $(dpkg-query -W -f='clickhouse-server ${Version}' clickhouse-server) at $(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)"
