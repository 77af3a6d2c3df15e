//! `micro proto …`: contracts in, code out.

pub mod add;
pub mod breaking;
pub mod client;
pub mod lint;
pub mod server;

use crate::codegen::lint::Finding;

/// Findings of `lint` and `breaking` on stdout: one per entry with its fix below, or (`json`) an
/// array of objects for tools.
fn print_findings(findings: &[Finding], json: bool) -> anyhow::Result<()> {
    if json {
        let array: Vec<serde_json::Value> = findings.iter().map(Finding::to_json).collect();
        println!("{}", serde_json::to_string_pretty(&array)?);
    } else {
        for finding in findings {
            println!("{finding}");
        }
    }
    Ok(())
}
