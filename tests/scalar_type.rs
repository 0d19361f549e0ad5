//! Settings that are valid as written but not in the network's scalar type (an eps
//! that rounds to 0 in `f32`) are refused by const assertions in the generated `new`.
//! Such assertions are evaluated when `new` is built for a type, at `cargo build`,
//! not at `cargo check` (which trybuild's compile-fail cases run), so this test builds
//! a small crate (`tests/scalar_type/`) twice: for `f64` it must build, for `f32` it
//! must fail with the message at the argument.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/tests/scalar_type");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = std::fs::read_to_string(root.join("tests/scalar_type/Cargo.toml.in"))
        .unwrap()
        .replace("@GRADNET@", &root.display().to_string());
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(
        root.join("tests/scalar_type/src/main.rs"),
        dir.join("src/main.rs"),
    )
    .unwrap();
    // The workspace's versions of every dependency, so no resolution is needed.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir
}

fn build(dir: &Path, features: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO"))
        .arg("build")
        .arg("--quiet")
        .args(features)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_eps_that_rounds_to_zero_in_f32_fails_the_build() {
    let dir = fixture();
    let (ok, stderr) = build(&dir, &[]);
    assert!(ok, "the f64 network must build:\n{stderr}");
    let (ok, stderr) = build(&dir, &["--features", "f32"]);
    assert!(!ok, "the f32 network must not build");
    assert!(
        stderr.contains(
            "eps must be positive and finite in the network's scalar type (f32 rounds it)"
        ),
        "unexpected message:\n{stderr}"
    );
    assert!(
        stderr.contains("batch_norm(eps = 1e-50)") && stderr.contains("src/main.rs:9:26"),
        "the error must point at the argument:\n{stderr}"
    );
}
