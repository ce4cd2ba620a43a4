#!/usr/bin/env bash
# Make sure a Docker engine answers, installing Debian's docker.io and starting dockerd if needed.
# Also installs bubblewrap, libseccomp2 and debootstrap (the other sandbox backend, its seccomp filter, and the
# image recipe).
# Does nothing when `docker version` already answers. Never touches iptables or bridges.
set -euo pipefail
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v zstd >/dev/null || need+=(zstd)
# bubblewrap's seccomp filter is built with libseccomp (through the pyseccomp package)
ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2 ' || need+=(libseccomp2)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "docker-engine.sh: need root to install ${need[*]}" >&2; exit 1
    fi
    echo "installing ${need[*]} from Debian..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if docker version >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
    echo "docker-engine.sh: no Docker engine answers and only root can start one" >&2; exit 1
fi
log=${AGENTSCALE_CACHE:-$HOME/.cache/agentscale}/dockerd.log
mkdir -p "$(dirname "$log")"
echo "starting dockerd (log: $log)..." >&2
setsid nohup /usr/sbin/dockerd --bridge=none --iptables=false --ip-masq=false --log-level=warn \
    >"$log" 2>&1 </dev/null &
for _ in $(seq 1 100); do
    docker version >/dev/null 2>&1 && exit 0
    sleep 0.2
done
echo "docker-engine.sh: dockerd did not answer in 20 s; see $log" >&2
exit 1
