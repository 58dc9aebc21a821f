//! `gas`: the escrow's gas table, measured by `scripts/contracts gas` on a real anvil, re-emitted
//! in the bench format.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::out::Out;

pub(crate) fn run(out: &Out, input: &Path) -> Result<()> {
    let raw: Value = serde_json::from_str(
        &std::fs::read_to_string(input)
            .with_context(|| format!("failed to read {}", input.display()))?,
    )?;
    let mut rows = Vec::new();
    for asset in ["eth", "erc20"] {
        if let Some(ops) = raw.get(asset).and_then(Value::as_object) {
            for (op, gas) in ops {
                rows.push((format!("{asset} {op}"), gas.as_u64().unwrap_or(0)));
            }
        }
    }
    println!("{:<32} {:>10}", "escrow operation", "gas used");
    for (op, gas) in &rows {
        println!("{op:<32} {gas:>10}");
    }
    out.write(
        "gas",
        json!({
            "source": raw.get("source"),
            "deployed_code_hash": raw.get("deployedCodeHash"),
            "gas": rows.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        }),
    )
}
