use std::collections::HashMap;
use std::sync::Mutex;

use crate::biz::GreeterRepo;

/// Keeps greeting counts in memory; swap in a database-backed store without touching `biz`.
#[derive(Debug, Default)]
pub struct GreeterStore {
    counts: Mutex<HashMap<String, u64>>,
}

impl GreeterRepo for GreeterStore {
    async fn record(&self, name: &str) -> anyhow::Result<u64> {
        let mut counts = self
            .counts
            .lock()
            .map_err(|_| anyhow::anyhow!("greeting counts are poisoned"))?;
        let count = counts.entry(name.to_owned()).or_default();
        *count += 1;
        Ok(*count)
    }
}
