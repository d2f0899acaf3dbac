#!/usr/bin/env bash
# Install Debian's podman + runc + busybox-static (idempotent) and check the project-local
# CONTAINERS_CONF file (scripts/podman/containers.conf). Prints the export line to use it.
# Needs root (or sudo) for apt-get; does nothing to /etc.
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
conf="$here/podman/containers.conf"

need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || need+=(runc)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || need+=(busybox-static)
# podman builds its pod infra ("pause") image around catatonit, one of its Recommends.
command -v catatonit >/dev/null 2>&1 || [ -x /usr/libexec/podman/catatonit ] || need+=(catatonit)
if [ "${#need[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # apt-get update only when the package lists do not know the packages yet.
  if ! apt-cache show "${need[@]}" >/dev/null 2>&1; then
    $sudo apt-get update -qq
  fi
  echo "install-podman: installing ${need[*]}" >&2
  # With Recommends: podman needs catatonit (pause image), slirp4netns, uidmap, fuse-overlayfs...
  if ! $sudo apt-get install -y -qq podman runc busybox-static catatonit >&2; then
    # stale package lists (404s): refresh once and try again
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq podman runc busybox-static catatonit >&2
  fi
else
  echo "install-podman: podman, runc and busybox already installed" >&2
fi

# The settings podman needs in this sandbox (see RUNTIME.md); rewritten only when missing.
if [ ! -s "$conf" ]; then
  mkdir -p "$(dirname "$conf")"
  cat >"$conf" <<'CONF'
# cirrus: project-local Podman settings (point CONTAINERS_CONF at this file; /etc is left alone).
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
  echo "install-podman: wrote $conf" >&2
fi

if CONTAINERS_CONF="$conf" podman info >/dev/null 2>&1; then
  echo "install-podman: podman works with CONTAINERS_CONF=$conf" >&2
else
  echo "install-podman: warning: 'podman info' failed with CONTAINERS_CONF=$conf" >&2
fi
echo "export CONTAINERS_CONF=$conf"
