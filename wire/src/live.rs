//! What a wire run shows while it plays: a progress bar over the timeline and a table with the
//! columns of `kubectl get bmh`, redrawn in place on a terminal; on anything else (CI logs, pipes)
//! one line per step and per host state change instead.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::observe::{HostRow, Recorder};
use metal_scenario::trace::Happening;
use metal_sim::machine::SimTime;

/// How the run shows itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// Redraw a progress bar and the host table in place (stdout is a terminal).
    Terminal,
    /// One line per step and per state change (stdout is a file or a pipe).
    Lines,
    /// Nothing (tests).
    Quiet,
}

/// Rows of the table drawn on a terminal; more hosts are summarised in one line.
const MAX_ROWS: usize = 40;

/// kubectl's short age: `45s`, `3m12s`, `2h5m`.
fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=3599 => format!("{}m{}s", s / 60, s % 60),
        _ => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

/// The host table as `kubectl get bmh` prints it (NAME, STATE, CONSUMER, ONLINE, ERROR, AGE).
pub fn table(hosts: &[(String, HostRow)], now: SimTime, max_rows: usize) -> String {
    let mut out = String::new();
    let name_w = hosts.iter().map(|(n, _)| n.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(
        out,
        "{:<name_w$}   {:<24} {:<14} {:<6} {:<28} AGE",
        "NAME", "STATE", "CONSUMER", "ONLINE", "ERROR"
    );
    for (name, v) in hosts.iter().take(max_rows) {
        let state = if v.gone { "(deleted)" } else { &v.state };
        let _ = writeln!(
            out,
            "{:<name_w$}   {:<24} {:<14} {:<6} {:<28} {}",
            name,
            state,
            v.consumer.as_deref().unwrap_or(""),
            v.online,
            v.error_type.as_deref().unwrap_or(""),
            age(now.saturating_since(v.created))
        );
    }
    if hosts.len() > max_rows {
        let _ = writeln!(out, "… and {} more hosts", hosts.len() - max_rows);
    }
    out
}

/// The progress bar line: `[#####.....] step 3/7  12.4s`.
pub fn progress(done: usize, total: usize, now: SimTime, title: &str) -> String {
    const WIDTH: usize = 30;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    format!(
        "{title}  [{}{}] step {}/{}  {}",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        done.min(total),
        total,
        now
    )
}

/// Starts the display; it stops when `stop` is cancelled, after one last draw.
pub fn spawn(
    display: Display,
    title: String,
    total: usize,
    done: Arc<AtomicUsize>,
    recorder: Arc<Recorder>,
    stop: CancellationToken,
) -> Option<JoinHandle<()>> {
    if display == Display::Quiet {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut seen = 0usize;
        loop {
            let last = stop.is_cancelled();
            let now = recorder.now();
            let mut out = String::new();
            match display {
                Display::Terminal => {
                    let hosts: Vec<(String, HostRow)> = recorder.hosts().into_iter().collect();
                    out.push_str("\x1b[H\x1b[2J");
                    let _ = writeln!(
                        out,
                        "{}\n",
                        progress(done.load(Ordering::Relaxed), total, now, &title)
                    );
                    out.push_str(&table(&hosts, now, MAX_ROWS));
                }
                Display::Lines | Display::Quiet => {
                    let shown = recorder.shown_since(seen);
                    let mut count = 0;
                    for e in &shown {
                        count += 1;
                        match &e.what {
                            Happening::Step {
                                index,
                                line,
                                keyword,
                                summary,
                            } => {
                                let _ = writeln!(
                                    out,
                                    "[{:>10}] step {}/{} (line {line}) {keyword}: {summary}",
                                    e.t.to_string(),
                                    index + 1,
                                    total
                                );
                            }
                            Happening::HostState { host, from, to, .. } => {
                                let from = if from.is_empty() { "-" } else { from };
                                let _ = writeln!(
                                    out,
                                    "[{:>10}] {host}: {from} -> {to}",
                                    e.t.to_string()
                                );
                            }
                            Happening::StepFailed { line, reason, .. } => {
                                let _ = writeln!(
                                    out,
                                    "[{:>10}] FAILED (line {line}): {reason}",
                                    e.t.to_string()
                                );
                            }
                            _ => {}
                        }
                    }
                    seen += count;
                }
            }
            if !out.is_empty() {
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(out.as_bytes());
                let _ = stdout.flush();
            }
            if last {
                return;
            }
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_kubectls_columns_and_ages() {
        let v = HostRow {
            state: "available".into(),
            online: true,
            created: SimTime::from_secs(5),
            ..HostRow::default()
        };
        let t = table(&[("worker-0".into(), v)], SimTime::from_secs(200), 10);
        let mut lines = t.lines();
        let header = lines.next().unwrap();
        for col in ["NAME", "STATE", "CONSUMER", "ONLINE", "ERROR", "AGE"] {
            assert!(header.contains(col), "{header}");
        }
        let row = lines.next().unwrap();
        assert!(row.starts_with("worker-0"), "{row}");
        assert!(row.contains("available") && row.contains("true") && row.ends_with("3m15s"));
    }

    #[test]
    fn long_tables_are_cut_with_a_count() {
        let rows: Vec<(String, HostRow)> = (0..5)
            .map(|i| (format!("h{i}"), HostRow::default()))
            .collect();
        let t = table(&rows, SimTime::ZERO, 2);
        assert_eq!(t.lines().count(), 4);
        assert!(t.ends_with("… and 3 more hosts\n"));
    }

    #[test]
    fn the_progress_bar_fills_with_the_steps() {
        let p = progress(3, 6, SimTime::from_secs(2), "x");
        assert!(
            p.contains(&format!("[{}{}]", "#".repeat(15), ".".repeat(15))),
            "{p}"
        );
        assert!(p.contains("step 3/6"));
    }
}
