#!/usr/bin/env bash
# The sandbox image recipe: a minimal Debian 12 root filesystem with python3, git and pytest,
# built from Debian's packages with debootstrap (no container registry needed).
#
#   rootfs.sh TARGET_DIR
#
# agentscale hashes this file: change it and the image (and the bubblewrap rootfs) is rebuilt.
# Both backends use the result: Docker imports it as an image (`docker import`), bubblewrap binds
# it read-only as `/`.
set -euo pipefail
target=${1:?usage: rootfs.sh TARGET_DIR}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
debootstrap --variant=minbase --include=python3,python-is-python3,git,python3-pytest bookworm "$target" "$mirror"
# Shrink it: package caches, docs, man pages and locales are never used in a sandbox.
rm -rf "$target"/var/cache/apt/archives/*.deb "$target"/var/lib/apt/lists/* \
    "$target"/usr/share/doc/* "$target"/usr/share/man/* "$target"/usr/share/locale/* "$target"/usr/share/info/*
# The sandbox user (uid/gid 65534 is Debian's nobody/nogroup already) gets a home it can write to
# only through the tmpfs mounted at /tmp; the work dir is mounted at /work.
mkdir -p "$target"/work
# Mount points for the tmpfs the backends put over them must exist in a read-only root.
mkdir -p "$target"/dev/shm "$target"/tmp
chmod 1777 "$target"/tmp
