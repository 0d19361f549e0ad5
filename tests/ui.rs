//! Compile-fail tests for `network!`: one mistake per file in `tests/ui/`, each with
//! the exact compiler output it must produce in the `.stderr` next to it.
//! Refresh with `TRYBUILD=overwrite cargo test --test ui` and read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
