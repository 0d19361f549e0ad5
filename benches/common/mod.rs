//! What the benches share: reading criterion's medians back for their summaries.

use std::path::PathBuf;

/// Where criterion keeps its estimates: `$CRITERION_HOME`, else `criterion/` in the
/// target directory holding this executable (`target/release/deps/<bench>-*`).
pub fn criterion_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(home.into());
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.ancestors().nth(3)?.join("criterion"))
}

/// The median (ns per iteration) of one benchmark from criterion's `estimates.json`.
pub fn median_ns(group: &str, function: &str, param: &str) -> Option<f64> {
    let path = criterion_dir()?
        .join(group)
        .join(function)
        .join(param)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let after = &text[text.find("\"median\"")?..];
    let value = &after[after.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = value.find([',', '}'])?;
    value[..end].trim().parse().ok()
}
