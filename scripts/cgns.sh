#!/bin/bash
# cgns.sh: a private cgroup sandbox for tests and benchmarks on a shared machine.
#
#   cgns.sh start DIR NAME   make cgroup <own>/NAME in every hierarchy (<own> = this process's
#                            cgroup there) and persistent mount+cgroup namespaces pinned at
#                            DIR/ns/{mnt,cgroup} in which every hierarchy is re-mounted, so that
#                            "/" is <own>/NAME (the hybrid cgroup2 mount is hidden)
#   cgns.sh exec DIR [-c SUB] [-n NETNS] CMD...
#                            run CMD in those namespaces, in cgroup /SUB (default: the root,
#                            i.e. <own>/NAME), optionally in network namespace NETNS
#   cgns.sh stop DIR         kill (by pid) every process left in <own>/NAME, remove its cgroups
#                            deepest first, unmount DIR's namespace pins
#
# Inside, an absolute cgroupsPath such as /libpod_parent/libpod-ID or /default/ID lands below
# <own>/NAME: the real hierarchy roots are never touched. Not a sandbox against root processes
# that remount /sys/fs/cgroup: only a cgroup namespace plus private mounts.
set -euo pipefail
CG=/sys/fs/cgroup

# one line per hierarchy: mountpoint <TAB> fstype <TAB> mount options <TAB> own path
hier() {
  local ctrls path
  while IFS=: read -r _ ctrls path; do
    if [ -z "$ctrls" ]; then
      if [ "$(stat -f -c %T $CG)" = cgroup2fs ]; then
        printf '%s\tcgroup2\tnone\t%s\n' "$CG" "$path"
      elif mountpoint -q $CG/unified; then
        printf '%s\tcgroup2\tnone\t%s\n' "$CG/unified" "$path"
      fi
    else
      case $ctrls in
      name=*) printf '%s\tcgroup\tnone,%s\t%s\n' "$CG/${ctrls#name=}" "$ctrls" "$path" ;;
      *) printf '%s\tcgroup\t%s\t%s\n' "$CG/$ctrls" "$ctrls" "$path" ;;
      esac
    fi
  done </proc/self/cgroup
}

# the v1 hierarchies when the host has any, else the v2 one
used() {
  local all
  all=$(hier)
  if grep -q $'\tcgroup\t' <<<"$all"; then grep $'\tcgroup\t' <<<"$all"; else echo "$all"; fi
}

cmd=${1:?usage: cgns.sh start DIR NAME | exec DIR [-c SUB] [-n NETNS] CMD... | stop DIR}
dir=${2:?missing DIR}
case $cmd in
start)
  name=${3:?missing NAME}
  mkdir -p "$dir/ns"
  : >"$dir/ns/cgdirs"
  while IFS=$'\t' read -r mp _ _ path; do
    [ -d "$mp" ] || continue
    d="$mp${path%/}/$name"
    mkdir -p "$d"
    echo "$d" >>"$dir/ns/cgdirs"
    if [ -e "$d/cpuset.cpus" ] && [ -z "$(cat "$d/cpuset.cpus")" ]; then
      cat "$(dirname "$d")/cpuset.effective_cpus" >"$d/cpuset.cpus"
      cat "$(dirname "$d")/cpuset.effective_mems" >"$d/cpuset.mems"
    fi
  done < <(used)
  # The pins must live on a private mount, or the kernel refuses to bind namespaces there.
  mountpoint -q "$dir/ns" || { mount --bind "$dir/ns" "$dir/ns"; mount --make-private "$dir/ns"; }
  touch "$dir/ns/mnt" "$dir/ns/cgroup"
  (
    while read -r d; do echo $BASHPID >"$d/cgroup.procs"; done <"$dir/ns/cgdirs"
    exec unshare --mount="$dir/ns/mnt" --cgroup="$dir/ns/cgroup" --propagation private \
      bash -ec '
        hybrid_v2=$(awk "\$5==\"/sys/fs/cgroup/unified\" {print \$5}" /proc/self/mountinfo)
        [ -z "$hybrid_v2" ] || umount /sys/fs/cgroup/unified
        while IFS=$(printf "\t") read -r mp fs opts _; do
          umount "$mp"
          if [ "$fs" = cgroup2 ]; then mount -t cgroup2 cgroup2 "$mp"; else mount -t cgroup -o "$opts" cgroup "$mp"; fi
          grep -qx "$$" "$mp/cgroup.procs" || { echo "cgns: $mp root is not the sandbox cgroup" >&2; exit 1; }
        done' <<<"$(used)"
  )
  ;;
exec)
  shift 2
  sub= net=
  while [ $# -gt 0 ]; do
    case $1 in
    -c) sub=$2; shift 2 ;;
    -n) net=$2; shift 2 ;;
    *) break ;;
    esac
  done
  while read -r d; do
    t=$d
    IFS=/ read -r -a parts <<<"$sub"
    for c in "${parts[@]}"; do
      [ -n "$c" ] || continue
      t=$t/$c
      [ -d "$t" ] && continue
      mkdir "$t"
      if [ -e "$t/cpuset.cpus" ] && [ -z "$(cat "$t/cpuset.cpus")" ]; then
        cat "$(dirname "$t")/cpuset.cpus" >"$t/cpuset.cpus"
        cat "$(dirname "$t")/cpuset.mems" >"$t/cpuset.mems"
      fi
    done
    echo $$ >"$t/cgroup.procs"
  done <"$dir/ns/cgdirs"
  exec nsenter --mount="$dir/ns/mnt" --cgroup="$dir/ns/cgroup" ${net:+--net=/run/netns/$net} "$@"
  ;;
stop)
  set +e
  rc=0
  if [ -f "$dir/ns/cgdirs" ]; then
    for _ in 1 2 3; do
      left=$(while read -r d; do [ -d "$d" ] && find "$d" -name cgroup.procs -exec cat {} +; done <"$dir/ns/cgdirs" 2>/dev/null | sort -u)
      [ -z "$left" ] && break
      # a frozen cgroup would keep its killed tasks
      while read -r d; do
        find "$d" -name freezer.state 2>/dev/null | while read -r f; do echo THAWED >"$f"; done
      done <"$dir/ns/cgdirs"
      for p in $left; do kill -9 "$p" 2>/dev/null; done
      sleep 0.3
    done
    while read -r d; do
      [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
      [ -d "$d" ] && { echo "cgns: could not remove $d" >&2; rc=1; }
    done <"$dir/ns/cgdirs"
  fi
  umount "$dir/ns/mnt" "$dir/ns/cgroup" 2>/dev/null
  umount "$dir/ns" 2>/dev/null
  exit $rc
  ;;
*)
  echo "cgns.sh: unknown command $cmd" >&2
  exit 2
  ;;
esac
