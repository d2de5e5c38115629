//! noderun-seccomp: OCI seccomp profiles compiled to BPF (implementation in progress).
