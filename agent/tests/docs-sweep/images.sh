#!/bin/bash
# agent/tests/docs-sweep/images.sh OUTDIR
# Writes `docker save` archives (OUTDIR/*.tar) of stand-ins for the images the Kubernetes
# documentation's examples name, all made from the host's busybox-static: the same names and
# the parts of their behaviour the examples rely on (nginx serves :80 from
# /usr/share/nginx/html and stops on SIGQUIT; agnhost liveness/netexec; registry.k8s.io/liveness
# fails /healthz after 10 s; pause; http-echo; redis on :6379; perl prints pi...).
set -euo pipefail
out=${1:?usage: images.sh OUTDIR}
mkdir -p "$out"
bb=/bin/busybox
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac

# The base root filesystem every stand-in shares.
base=$w/base
mkdir -p "$base"/{bin,etc,root,tmp,usr/sbin,usr/local/bin,var/log,data}
chmod 1777 "$base/tmp"
cp "$bb" "$base/bin/busybox"
for a in $("$bb" --list); do
  [ "$a" = busybox ] || ln -s busybox "$base/bin/$a"
done
printf '#!/bin/sh\nexec /bin/sh "$@"\n' >"$base/bin/bash"
chmod 755 "$base/bin/bash"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\nnginx:x:101:101:nginx:/:/bin/false\n' >"$base/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\nnginx:x:101:\n' >"$base/etc/group"

# An HTTP server on port $1 answering every request with $2 (status line) and $3 (body).
http_answer() {
  cat <<EOF
#!/bin/sh
# one HTTP exchange on stdin/stdout (nc -ll -e)
read -r line
while read -r h && [ "\$(printf %s "\$h" | tr -d '\r')" != "" ]; do :; done
body=$3
printf 'HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' "$2" "\${#body}" "\$body"
EOF
}

# image TAG CONFIG_JSON [SETUP_FUNCTION]: one archive; SETUP_FUNCTION adds files to $root.
n=0
image() {
  local tag=$1 cfg=$2 setup=${3:-}
  n=$((n + 1))
  root=$w/r$n
  cp -a "$base" "$root"
  [ -z "$setup" ] || "$setup"
  local s=$w/s$n
  mkdir -p "$s/l1"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1600000000 -C "$root" -cf "$s/l1/layer.tar" .
  local diff
  diff=$(sha256sum "$s/l1/layer.tar" | cut -d' ' -f1)
  printf '{"architecture":"%s","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$arch" "$cfg" "$diff" >"$s/config.json"
  local c
  c=$(sha256sum "$s/config.json" | cut -d' ' -f1)
  mv "$s/config.json" "$s/$c.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["l1/layer.tar"]}]' "$c" "$tag" >"$s/manifest.json"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1600000000 -C "$s" \
    -cf "$out/$(echo "$tag" | tr '/:' '__').tar" .
  rm -rf "$root" "$s"
}

sh_cfg='{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]}'
for t in busybox busybox:1.28 busybox:1.35 busybox:1.36 busybox:stable \
  registry.k8s.io/busybox registry.k8s.io/busybox:1.27.2 registry.k8s.io/busybox:1.24 \
  alpine alpine:3 alpine:latest docker.io/alpine/socat:1.8.0.3 registry.k8s.io/e2e-test-images/jessie-dnsutils:1.3; do
  image "$t" "$sh_cfg"
done
bash_cfg='{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["bash"]}'
for t in debian ubuntu ubuntu:22.04 centos:7 fedora docker.io/library/bash bash:5 k8s.gcr.io/fluentd-elasticsearch:1.20 quay.io/fluentd_elasticsearch/fluentd:v2.5.2 gcr.io/google_samples/gb-frontend:v5 us-docker.pkg.dev/google-samples/containers/gke/gb-frontend:v5; do image "$t" "$bash_cfg"; done

nginx_setup() {
  mkdir -p "$root/usr/share/nginx/html" "$root/etc/nginx/conf.d" "$root/var/cache/nginx"
  echo '<title>Welcome to nginx!</title>' >"$root/usr/share/nginx/html/index.html"
  cat >"$root/usr/sbin/nginx" <<'EOF'
#!/bin/sh
# nginx stand-in: `nginx -s quit|stop` stops the server; otherwise serve :80 until SIGQUIT/TERM.
case "$1" in -s) killall httpd; exit 0 ;; -v|-V) echo "nginx version: nginx/1.27 (busybox stand-in)"; exit 0 ;; esac
trap 'kill $pid 2>/dev/null; exit 0' QUIT TERM INT
httpd -f -p 80 -h /usr/share/nginx/html & pid=$!
wait $pid
EOF
  chmod 755 "$root/usr/sbin/nginx"
}
nginx_cfg='{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","NGINX_VERSION=1.27.0"],"Cmd":["nginx","-g","daemon off;"],"ExposedPorts":{"80/tcp":{}},"StopSignal":"SIGQUIT"}'
for t in nginx nginx:1.29 nginx:1.14.2 nginx:1.16.1 nginx:1.7.9 nginx:1.25 nginx:stable nginx:alpine \
  registry.k8s.io/nginx:latest registry.k8s.io/nginx-slim:0.8 registry.k8s.io/nginx-slim:0.24; do
  image "$t" "$nginx_cfg" nginx_setup
done

pause_setup() {
  printf '#!/bin/sh\ntrap "exit 0" TERM INT\nwhile :; do sleep 3600 & wait $!; done\n' >"$root/pause"
  chmod 755 "$root/pause"
}
for t in registry.k8s.io/pause:3.6 registry.k8s.io/pause:3.8 registry.k8s.io/pause:3.9 registry.k8s.io/pause:3.10; do
  image "$t" '{"Entrypoint":["/pause"],"Env":["PATH=/bin"]}' pause_setup
done

# registry.k8s.io/liveness's /server and agnhost's `liveness`: /healthz answers 200 for 10 s
# after start, then 500.
liveness_setup() {
  cat >"$root/healthz" <<'EOF'
#!/bin/sh
read -r line
while read -r h && [ "$(printf %s "$h" | tr -d '\r')" != "" ]; do :; done
age=$(( $(date +%s) - $(cat /tmp/started) ))
if [ "$age" -lt 10 ]; then st="200 OK"; body=ok; else st="500 Internal Server Error"; body="error: $age"; fi
printf 'HTTP/1.1 %s\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' "$st" "${#body}" "$body"
EOF
  printf '#!/bin/sh\ndate +%%s >/tmp/started\nexec nc -ll -p 8080 -e /healthz\n' >"$root/server"
  chmod 755 "$root/healthz" "$root/server"
}
image registry.k8s.io/liveness '{"Env":["PATH=/bin"],"Cmd":["/server"]}' liveness_setup

agnhost_setup() {
  liveness_setup
  cat >"$root/agnhost" <<'EOF'
#!/bin/sh
# agnhost stand-in: liveness, netexec [--http-port=N], serve-hostname, pause; else sleep.
sub=$1; shift 2>/dev/null
port=8080
for a in "$@"; do case "$a" in --http-port=*) port=${a#*=} ;; --port=*) port=${a#*=} ;; esac; done
mkdir -p /tmp/www && hostname >/tmp/www/index.html && hostname >/tmp/www/hostname
case "$sub" in
  liveness) exec /server ;;
  netexec|serve-hostname|test-webserver) [ "$sub" = serve-hostname ] && port=9376
    trap 'exit 0' TERM; httpd -f -p "$port" -h /tmp/www & wait $! ;;
  *) trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done ;;
esac
EOF
  chmod 755 "$root/agnhost"
}
for t in registry.k8s.io/e2e-test-images/agnhost:2.39 registry.k8s.io/e2e-test-images/agnhost:2.40 \
  registry.k8s.io/e2e-test-images/agnhost:2.45; do
  image "$t" '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":["/agnhost"]}' agnhost_setup
done

port_server() { # $1 port: a TCP server that answers "ok" over HTTP
  http_answer "$1" "200 OK" ok >"$root/answer"
  printf '#!/bin/sh\ntrap "exit 0" TERM\nnc -ll -p %s -e /answer & wait $!\n' "$1" >"$root/serve"
  chmod 755 "$root/answer" "$root/serve"
}
goproxy_setup() { port_server 8080; }
image registry.k8s.io/goproxy:0.1 '{"Env":["PATH=/bin"],"Cmd":["/serve"],"ExposedPorts":{"8080/tcp":{}}}' goproxy_setup
hello_setup() { port_server 8080; }
for t in gcr.io/google-samples/node-hello:1.0 gcr.io/google-samples/hello-app:1.0 \
  gcr.io/google-samples/hello-app:2.0 us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0 \
  registry.k8s.io/hpa-example; do
  image "$t" '{"Env":["PATH=/bin"],"Cmd":["/serve"],"ExposedPorts":{"8080/tcp":{}}}' hello_setup
done
redis_setup() {
  port_server 6379
  ln -s /serve "$root/usr/local/bin/redis-server"
}
for t in redis redis:5.0.4 redis:6.0.5; do
  image "$t" '{"Env":["PATH=/usr/local/bin:/bin"],"Cmd":["redis-server"],"WorkingDir":"/data","ExposedPorts":{"6379/tcp":{}}}' redis_setup
done
echo_setup() {
  cat >"$root/http-echo" <<'EOF'
#!/bin/sh
text="hello-world"; listen=5678
for a in "$@"; do case "$a" in -text=*) text=${a#*=} ;; -listen=:*) listen=${a#*:} ;; esac; done
printf '#!/bin/sh\nread -r l\nprintf "HTTP/1.1 200 OK\\r\\nConnection: close\\r\\n\\r\\n%%s\\n" "%s"\n' "$text" >/tmp/answer
chmod 755 /tmp/answer
echo "server is listening on :$listen"
trap 'exit 0' TERM
nc -ll -p "$listen" -e /tmp/answer & wait $!
EOF
  chmod 755 "$root/http-echo"
}
for t in hashicorp/http-echo:1.0 hashicorp/http-echo:0.2.3; do image "$t" '{"Env":["PATH=/bin"],"Entrypoint":["/http-echo"]}' echo_setup; done
perl_setup() {
  printf '#!/bin/sh\necho 3.14159265358979323846264338327950288419716939937510582097494459230781640628620899\n' >"$root/usr/local/bin/perl"
  chmod 755 "$root/usr/local/bin/perl"
}
for t in perl perl:5.34.0; do
  image "$t" '{"Env":["PATH=/usr/local/bin:/bin"],"Cmd":["perl","-de0"]}' perl_setup
done
stress_setup() {
  cat >"$root/usr/local/bin/stress" <<'EOF2'
#!/bin/sh
# polinux/stress stand-in: --vm-bytes N[MG] holds that much memory; -cpus N burns N cpus.
bytes=0; cpus=0
while [ $# -gt 0 ]; do
  case "$1" in --vm-bytes) bytes=$2; shift ;; -cpus) cpus=$2; shift ;; esac; shift
done
case "$bytes" in *M) bytes=$(( ${bytes%M} * 1048576 )) ;; *G) bytes=$(( ${bytes%G} * 1073741824 )) ;; esac
i=0; while [ "$i" -lt "$cpus" ]; do (while :; do :; done) & i=$((i + 1)); done
echo "stress: info: [1] dispatching hogs: $cpus cpu, 1 vm"
if [ "$bytes" -gt 0 ]; then hog=$(head -c "$bytes" /dev/zero | tr '\0' x); fi
trap 'exit 0' TERM
while :; do sleep 3600 & wait $!; done
EOF2
  chmod 755 "$root/usr/local/bin/stress"
}
image polinux/stress '{"Env":["PATH=/usr/local/bin:/bin"],"Cmd":["stress"]}' stress_setup
image vish/stress '{"Env":["PATH=/usr/local/bin:/bin"],"Entrypoint":["/usr/local/bin/stress"]}' stress_setup
ls "$out"
