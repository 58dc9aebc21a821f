//! Where results go: one JSON file per subcommand, stamped with the machine and the commit.

use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde_json::{Value, json};

pub(crate) struct Out {
    dir: PathBuf,
}

impl Out {
    pub(crate) fn new(dir: PathBuf) -> Result<Out> {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        Ok(Out { dir })
    }

    /// The directory results go to.
    pub(crate) fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Writes `<dir>/<name>.json`: `results` under `results`, with the stamp beside it.
    pub(crate) fn write(&self, name: &str, results: Value) -> Result<()> {
        let doc = json!({
            "bench": name,
            "nproc": std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
            "commit": commit(),
            "timestamp": utc_now(),
            "loadavg": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
            "results": results,
        });
        let path = self.dir.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("failed to write {}", path.display()))?;
        println!("wrote {}", path.display());
        Ok(())
    }
}

/// The commit the binary is run from (with `-dirty` if the tree differs), or `unknown`.
fn commit() -> String {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(head) = run(&["rev-parse", "HEAD"]) else {
        return "unknown".to_owned();
    };
    match run(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(s) if !s.is_empty() => format!("{head}-dirty"),
        _ => head,
    }
}

/// RFC 3339 UTC, to the second (civil-from-days, no date crate needed for one stamp).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// Resident memory of this process, from `/proc/self/status` (KiB).
pub(crate) fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system, seconds) used so far by process `pid` (or `self`), from
/// `/proc/<pid>/stat`; 0 if unreadable.
pub(crate) fn cpu_s(pid: &str) -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let ticks = *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    });
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses: state is field 3, utime 14,
    // stime 15.
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    f.iter().sum::<f64>() / ticks
}

/// The `q`-quantile (0..=1) of sorted `v`, nearest rank.
pub(crate) fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

/// Mean, median and maximum of a series (per-block times in ms), and the series, as JSON.
pub(crate) fn summary(v: &[f64]) -> Value {
    let mut sorted = v.to_vec();
    sorted.sort_by(f64::total_cmp);
    #[allow(clippy::cast_precision_loss)]
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    json!({
        "mean": mean,
        "median": quantile(&sorted, 0.5),
        "max": sorted.last().copied().unwrap_or(0.0),
        "all": v,
    })
}
