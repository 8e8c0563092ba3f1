#!/usr/bin/env bash
# A local stand-in for gcr.io/distroless/cc-debian12:nonroot, for machines that
# cannot pull from a registry: the same Debian 12 packages distroless is made of
# (base-files, libc6, libgcc-s1, ca-certificates, netbase, tzdata), the CA
# bundle, the `nonroot` user (65532) and a 1777 /tmp; no shell, no package
# manager. Builds it once; prints its name.
#
#   .ci/container/base.sh [IMAGE]
set -euo pipefail
IMAGE=${1:-localhost/distroless-standin/cc-debian12:nonroot}
if podman image exists "$IMAGE"; then
    echo "$IMAGE"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(
    cd "$work"
    apt-get download base-files libc6 libgcc-s1 ca-certificates netbase tzdata >/dev/null 2>&1
    mkdir rootfs
    for deb in *.deb; do
        dpkg-deb -x "$deb" rootfs
    done
    mkdir -p rootfs/tmp rootfs/home/nonroot rootfs/root rootfs/etc/ssl/certs
    chmod 1777 rootfs/tmp
    chown 65532:65532 rootfs/home/nonroot
    # ca-certificates' bundle is made by its maintainer script, which does not run here.
    cp /etc/ssl/certs/ca-certificates.crt rootfs/etc/ssl/certs/ca-certificates.crt
    cat > rootfs/etc/passwd <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
    cat > rootfs/etc/group <<'GROUP'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
GROUP
    if [ -e rootfs/bin/sh ] || [ -e rootfs/usr/bin/sh ]; then
        echo "the stand-in must have no shell" >&2
        exit 1
    fi
    tar -C rootfs -c . | podman import --change 'USER 65532:65532' - "$IMAGE" >/dev/null
)
echo "$IMAGE"
