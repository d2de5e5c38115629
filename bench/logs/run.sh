#!/bin/bash
# bench/logs/run.sh [podbench.py options]  — log throughput through the shim into CRI files,
# beside podman's conmon (k8s-file driver). Same as `bench/pods/run.sh logs`; see there.
exec "$(cd "$(dirname "$0")/../pods" && pwd)/run.sh" logs "$@"
