#!/bin/bash
# mkimage.sh DIR [LAYERS] [MB_PER_LAYER]
# Writes an OCI image layout at DIR (tag "bench") with LAYERS gzip layers of about MB_PER_LAYER
# MB each: /bin/busybox in the first, then files that are half random bytes, half text (so gzip
# has work to do, like real images). Deterministic except for the random halves.
set -euo pipefail
OUT=$1; LAYERS=${2:-5}; MB=${3:-10}
rm -rf "$OUT"; mkdir -p "$OUT/blobs/sha256"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
blob() { # file -> prints digest hex, moves file into blobs
  local h; h=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$OUT/blobs/sha256/$h"; echo "$h"; }
diffs=(); layers_json=()
for i in $(seq 1 "$LAYERS"); do
  d=$W/l$i; mkdir -p "$d/data$i"
  if [ "$i" = 1 ]; then mkdir -p "$d/bin"; cp /bin/busybox "$d/bin/busybox"; ln -s busybox "$d/bin/sh"; fi
  per=$(( MB * 1024 * 1024 / 8 ))   # 8 files per layer
  for f in $(seq 1 4); do head -c "$per" /dev/urandom > "$d/data$i/rand$f"; done
  for f in $(seq 1 4); do yes "layer $i file $f: the quick brown fox jumps over the lazy dog $RANDOM" | head -c "$per" > "$d/data$i/text$f" || true; done
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1600000000 -C "$d" -cf "$W/l$i.tar" .
  diffs+=("\"sha256:$(sha256sum "$W/l$i.tar" | cut -d' ' -f1)\"")
  gzip -n -6 "$W/l$i.tar"
  size=$(stat -c %s "$W/l$i.tar.gz"); h=$(blob "$W/l$i.tar.gz")
  layers_json+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$h\",\"size\":$size}")
done
arch=$(dpkg --print-architecture)
IFS=,; printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
  "$arch" "${diffs[*]}" > "$W/config"; unset IFS
csize=$(stat -c %s "$W/config"); ch=$(blob "$W/config")
IFS=,; printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
  "$ch" "$csize" "${layers_json[*]}" > "$W/manifest"; unset IFS
msize=$(stat -c %s "$W/manifest"); mh=$(blob "$W/manifest")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"bench"}}]}' "$mh" "$msize" > "$OUT/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$OUT/oci-layout"
du -sh "$OUT/blobs" >&2
