#!/bin/bash
# busybox-image.sh OUT.tar [TAG]
# Writes a `docker save` archive of a one-layer image made from the host's busybox-static:
# /bin/busybox, a symlink per applet in /bin, /tmp, /root, /etc/passwd and /etc/group, with
# PATH=/bin and `sh` as the command. TAG defaults to busybox:local (what manifests/ use).
# Load it with `nodectl import OUT.tar`. No network needed.
set -euo pipefail
out=${1:?usage: busybox-image.sh OUT.tar [TAG]}
tag=${2:-busybox:local}
bb=/bin/busybox
[ -x "$bb" ] || { echo "busybox-image.sh: $bb missing: apt-get install busybox-static" >&2; exit 1; }
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
l=$w/rootfs
mkdir -p "$l/bin" "$l/etc" "$l/root" "$l/tmp"
chmod 1777 "$l/tmp"
cp "$bb" "$l/bin/busybox"
for a in $("$bb" --list); do
  [ "$a" = busybox ] || ln -s busybox "$l/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$l/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$l/etc/group"
mkdir -p "$w/save/l1"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1600000000 -C "$l" -cf "$w/save/l1/layer.tar" .
diff=$(sha256sum "$w/save/l1/layer.tar" | cut -d' ' -f1)
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac
printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
  "$arch" "$diff" >"$w/config.json"
cfg=$(sha256sum "$w/config.json" | cut -d' ' -f1)
mv "$w/config.json" "$w/save/$cfg.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["l1/layer.tar"]}]' "$cfg" "$tag" >"$w/save/manifest.json"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1600000000 -C "$w/save" -cf "$out" .
