//! Link flags for the freestanding build (src/main.rs): exactly when the binary is compiled
//! with `panic = "abort"`, it has its own `_start` and no libc, so it must be linked with
//! `-nostartfiles -nostdlib -static -no-pie` (static and non-PIE: nothing relocates it).
//!
//! Cargo gives build scripts the target's cfg (`CARGO_CFG_PANIC`), which reflects
//! `-C panic` in RUSTFLAGS but not the profile's `panic` setting (cargo 1.95: a release build
//! with `panic = "abort"` still reports `unwind`). So the strategy is derived as cargo derives
//! it from the workspace's profiles: abort when RUSTFLAGS say so, or when the profile is
//! release-based (`PROFILE=release`: release, bench, the release-built binaries of
//! `cargo test --release`) and the release profile's `panic = "abort"` is not overridden
//! through CARGO_PROFILE_RELEASE_PANIC. Keep this in step with [profile.*] in ../../Cargo.toml;
//! a mismatch fails loudly at link time. scripts/build-static.sh relies on it.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CARGO_PROFILE_RELEASE_PANIC");
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let abort = env("CARGO_CFG_PANIC") == "abort"
        || (env("PROFILE") == "release" && env("CARGO_PROFILE_RELEASE_PANIC") != "unwind");
    if abort {
        for arg in ["-nostartfiles", "-nostdlib", "-static", "-no-pie"] {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
}
