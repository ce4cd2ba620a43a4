#!/usr/bin/env bash
# Make sure a sandbox backend can run without a Docker engine: installs Debian's bubblewrap and
# libseccomp2 (its seccomp filter), plus debootstrap and zstd (which build its root filesystem),
# when they are missing. Needs root for that; without root it only says what is missing (an already
# running Docker engine also works).
# Starts nothing: scripts/docker-engine.sh is the one that installs and starts dockerd.
set -euo pipefail
need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v zstd >/dev/null || need+=(zstd)
# bubblewrap's seccomp filter is built with libseccomp (through the pyseccomp package)
ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2 ' || need+=(libseccomp2)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "sandbox-deps.sh: ${need[*]} missing; as root, run scripts/sandbox-deps.sh (or apt-get install ${need[*]})," \
        "or start a Docker engine (scripts/docker-engine.sh)" >&2
    exit 0
fi
echo "installing ${need[*]} from Debian..." >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
