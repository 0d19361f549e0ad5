//! Sets `cfg(gradnet_avx512)` when the compiler has the AVX-512 intrinsics (stable
//! since Rust 1.89), so that the GEMM's AVX-512 kernel is built by such compilers and
//! chosen at run time on CPUs that have it, while older compilers (down to the
//! workspace's MSRV) still build the crate, without that kernel.

use std::process::Command;

fn main() {
    println!("cargo:rustc-check-cfg=cfg(gradnet_avx512)");
    println!("cargo:rerun-if-changed=build.rs");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let minor = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|v| {
            // "rustc 1.95.0 (59807616e 2026-04-14)"
            let version = v.split_whitespace().nth(1)?;
            let mut parts = version.split('.');
            (parts.next()? == "1").then_some(())?;
            parts.next()?.parse::<u32>().ok()
        });
    if minor.is_some_and(|m| m >= 89) {
        println!("cargo:rustc-cfg=gradnet_avx512");
    }
}
