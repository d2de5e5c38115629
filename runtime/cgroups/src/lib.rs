//! noderun-cgroups: cgroup v2 and v1 behind one interface (implementation in progress).
