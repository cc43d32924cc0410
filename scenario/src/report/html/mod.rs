//! `report.html`: one self-contained page per run (inline CSS, the timeline SVG inline, a few lines
//! of script for the host filter and for opening the row a link points at; nothing fetched).
//! Sections: the verdict with the rerun command, every check once with the trace row that broke
//! it, the phases with their distributions and where their time went, the timeline, and each
//! host's trace rows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use super::units::human;
use super::{RunReport, Summary, escape, timeline_svg};
use crate::check::{CheckId, Failure, Invariant};
use crate::format::Step;
use crate::trace::{Happening, Trace, TraceLine};
use metal_sim::machine::SimTime;

mod describe;
use describe::describe;

/// Above this many trace lines the page keeps only the head and tail of each host's rows (and
/// every row a failure links to); `trace.jsonl` has them all.
pub const MAX_ROWS: usize = 20_000;

/// Rows a group keeps at least when the page is cut: its first and last.
const MIN_GROUP_ROWS: usize = 2;

/// The page of a run.
pub fn report_html(run: &RunReport<'_>, summary: &Summary) -> String {
    let trace = run.trace;
    let links = failure_rows(run);
    let mut page = String::with_capacity(64 * 1024 + trace.events.len() * 160);
    let title = format!(
        "{} (seed {}, {} mode) — {}",
        summary.scenario,
        summary.seed,
        summary.mode,
        if summary.passed { "PASSED" } else { "FAILED" }
    );
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\
         <title>{}</title><style>{CSS}</style></head><body>\n",
        escape(&title)
    );
    verdict(&mut page, run, summary);
    checks(&mut page, run, &links);
    phases(&mut page, summary);
    let _ = writeln!(
        page,
        "<section id=\"timeline\"><h2>Timeline</h2><div class=\"svg\">{}</div></section>",
        timeline_svg(
            &format!(
                "{} (seed {}, {})",
                summary.scenario, summary.seed, summary.mode
            ),
            trace
        )
    );
    hosts(&mut page, trace, &links);
    let _ = write!(page, "<script>{SCRIPT}</script>\n</body></html>\n");
    page
}

/// For each failure (by its index in the verdict), the 1-based trace line that broke it, if one
/// can be named.
fn failure_rows(run: &RunReport<'_>) -> Vec<Option<usize>> {
    run.verdict
        .failures
        .iter()
        .map(|f| first_row(run.trace, f))
        .collect()
}

/// The first trace line that broke `f`: a failed step's own `step_failed` line; otherwise the
/// first line at or after `at` about the failure's host (any line when it names none); for a
/// failure without an instant (an expectation judged on the whole trace), the host's last state
/// change, the state it was judged in.
pub fn first_row(trace: &Trace, f: &Failure) -> Option<usize> {
    let about = |e: &TraceLine| f.host.as_deref().is_none_or(|h| e.what.host() == Some(h));
    let found = match (f.check, f.at) {
        (CheckId::Step(i), _) => trace
            .events
            .iter()
            .position(|e| matches!(e.what, Happening::StepFailed { index, .. } if index == i)),
        (_, Some(at)) => trace.events.iter().position(|e| e.t >= at && about(e)),
        (_, None) if f.host.is_some() => trace
            .events
            .iter()
            .rposition(|e| matches!(e.what, Happening::HostState { .. }) && about(e))
            .or_else(|| trace.events.iter().rposition(about)),
        (_, None) => None,
    };
    found.map(|i| i + 1)
}

fn verdict(page: &mut String, run: &RunReport<'_>, s: &Summary) {
    let word = if s.passed { "PASSED" } else { "FAILED" };
    let class = if s.passed { "pass" } else { "fail" };
    let _ = write!(
        page,
        "<header id=\"verdict\" class=\"{class}\"><h1><span class=\"word\">{word}</span> {}</h1>\n<p>seed {} · {} mode",
        escape(&s.scenario),
        s.seed,
        escape(&s.mode)
    );
    if let Some(op) = &s.operator {
        let _ = write!(page, " · operator {}", escape(op));
    }
    let _ = write!(
        page,
        " · {} hosts · {} simulated",
        s.hosts,
        human(Duration::from_millis(s.simulated_ms))
    );
    if let Some(wall) = run.wall {
        let _ = write!(page, " · {} wall", human(wall));
    }
    let failed = s.verdict.failures.len();
    let _ = write!(
        page,
        " · {failed} failure{}</p>\n<p>Rerun: <code id=\"rerun\" class=\"cmd\">{}</code></p>\n",
        if failed == 1 { "" } else { "s" },
        escape(run.rerun)
    );
    if let Some(why) = stopped(run) {
        let _ = writeln!(
            page,
            "<p class=\"banner\" id=\"stopped\">{}</p>",
            escape(&why)
        );
    }
    if run.trace.events.len() > MAX_ROWS {
        let _ = writeln!(
            page,
            "<p class=\"banner\">The trace has {} lines; the host sections below keep the first and last rows of each host and every row a failure points to. <code>trace.jsonl</code> has them all.</p>",
            run.trace.events.len()
        );
    }
    page.push_str("</header>\n");
}

/// Where the run stopped before its timeline ended, if it did: the run's own reason (a step that
/// could not be carried out, an engine error), or a step that did not hold before the last step.
fn stopped(run: &RunReport<'_>) -> Option<String> {
    let steps = run.scenario.file.timeline.len();
    let at = run.trace.events.iter().find_map(|e| match &e.what {
        Happening::StepFailed {
            index,
            line,
            reason,
        } => Some((*index, *line, reason.as_str(), e.t)),
        _ => None,
    });
    let last_step = |index: usize, line: usize, t: SimTime| {
        format!(
            "step {} of {steps} (line {line}) at {}; the steps after it did not run",
            index + 1,
            human(t.since_start())
        )
    };
    match (&run.stopped, at) {
        (Some(why), Some((index, line, _, t))) => Some(format!(
            "The run stopped at {}: {why}",
            last_step(index, line, t)
        )),
        (Some(why), None) => Some(format!(
            "The run stopped before its timeline ended, after {} trace lines: {why}",
            run.trace.events.len()
        )),
        (None, Some((index, line, reason, t))) if index + 1 < steps => Some(format!(
            "The run stopped at {}: {reason}",
            last_step(index, line, t)
        )),
        _ => None,
    }
}

/// One row of the checks table.
struct CheckRow {
    id: CheckId,
    line: usize,
    says: String,
    /// `pass`, `fail`, `n/a`, `not checked` or `not run`.
    status: &'static str,
    note: Option<String>,
}

fn check_rows(run: &RunReport<'_>) -> Vec<CheckRow> {
    let sc = run.scenario;
    let v = run.verdict;
    let failed: BTreeSet<CheckId> = v.failures.iter().map(|f| f.check).collect();
    let not_applicable = |line: usize| {
        let prefix = format!("line {line}: ");
        v.not_applicable
            .iter()
            .find(|n| n.starts_with(&prefix))
            .cloned()
    };
    let stopped_at = run.trace.events.iter().find_map(|e| match e.what {
        Happening::StepFailed { index, .. } => Some(index),
        _ => None,
    });
    let ran: BTreeMap<usize, &str> = run
        .trace
        .events
        .iter()
        .filter_map(|e| match &e.what {
            Happening::Step { index, summary, .. } => Some((*index, summary.as_str())),
            _ => None,
        })
        .collect();
    let mut rows = Vec::new();
    let status = |id: CheckId, na: &Option<String>| {
        if failed.contains(&id) {
            "fail"
        } else if na.is_some() {
            "n/a"
        } else {
            "pass"
        }
    };
    for (i, step) in sc.file.timeline.iter().enumerate() {
        let id = CheckId::Step(i);
        if !matches!(step, Step::Wait(_) | Step::Assert(_)) && !failed.contains(&id) {
            continue;
        }
        let not_run = !ran.contains_key(&i) || stopped_at.is_some_and(|s| i > s);
        rows.push(CheckRow {
            id,
            line: sc.step_line(i),
            says: format!(
                "{}: {}",
                step.keyword(),
                ran.get(&i)
                    .map_or_else(|| crate::play::one_line(step), |s| (*s).to_owned())
            ),
            status: if failed.contains(&id) {
                "fail"
            } else if not_run {
                "not run"
            } else {
                "pass"
            },
            note: None,
        });
    }
    let json = |x: &dyn erased::Json| x.line();
    let expectations = (sc.file.expect.hosts.iter().enumerate())
        .map(|(i, x)| (CheckId::Host(i), sc.expect_host_line(i), json(x)))
        .chain(
            (sc.file.expect.events.iter().enumerate())
                .map(|(i, x)| (CheckId::Event(i), sc.expect_event_line(i), json(x))),
        )
        .chain(
            (sc.file.expect.calls.iter().enumerate())
                .map(|(i, x)| (CheckId::Call(i), sc.expect_call_line(i), json(x))),
        );
    for (id, line, says) in expectations {
        let na = not_applicable(line);
        rows.push(CheckRow {
            id,
            line,
            says,
            status: status(id, &na),
            note: na,
        });
    }
    for inv in Invariant::ALL {
        let id = CheckId::Invariant(inv);
        if !inv.enabled(sc) && !failed.contains(&id) {
            continue;
        }
        let prefix = format!("{}: ", inv.name());
        let skipped = v.skipped.iter().find(|s| s.starts_with(&prefix)).cloned();
        let mut says = inv.meaning().to_owned();
        if inv == Invariant::MaxBusy {
            let _ = write!(says, " (limit {})", sc.max_busy());
        }
        rows.push(CheckRow {
            id,
            line: sc.invariants_line(),
            says,
            status: if failed.contains(&id) {
                "fail"
            } else if skipped.is_some() {
                "not checked"
            } else {
                "pass"
            },
            note: skipped,
        });
    }
    rows
}

/// Expectations shown as the one line of JSON they are.
mod erased {
    pub(super) trait Json {
        fn line(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn line(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

fn checks(page: &mut String, run: &RunReport<'_>, links: &[Option<usize>]) {
    let rows = check_rows(run);
    let failing = rows.iter().filter(|r| r.status == "fail").count();
    let _ = write!(
        page,
        "<section id=\"checks\"><h2>Checks <small>{} checks, {failing} failed</small></h2>\n<table class=\"checks\"><thead><tr><th>status</th><th>check</th><th>line</th><th>what it says</th><th>what happened</th></tr></thead><tbody>\n",
        rows.len()
    );
    for (n, r) in rows.iter().enumerate() {
        let class = r.status.replace([' ', '/'], "-");
        let _ = write!(
            page,
            "<tr class=\"check {class}\" id=\"check-{n}\"><td class=\"status\">{}</td><td>{}</td><td>{}</td><td class=\"says\">{}</td><td>",
            r.status,
            escape(&r.id.to_string()),
            r.line,
            escape(&r.says)
        );
        if let Some(note) = &r.note {
            let _ = write!(page, "<div class=\"note\">{}</div>", escape(note));
        }
        for (f, link) in run.verdict.failures.iter().zip(links) {
            if f.check != r.id {
                continue;
            }
            let mut what = String::new();
            if let Some(h) = &f.host {
                let _ = write!(what, "{h}: ");
            }
            what.push_str(&f.message);
            let _ = write!(page, "<div class=\"failure\">{}", escape(&what));
            match link {
                Some(row) => {
                    let _ = write!(
                        page,
                        " <a class=\"trace-link\" href=\"#row-{row}\">trace line {row}</a>"
                    );
                }
                None => page.push_str(" <span class=\"muted\">(no trace line)</span>"),
            }
            page.push_str("</div>");
        }
        page.push_str("</td></tr>\n");
    }
    page.push_str("</tbody></table>\n");
    // Failures naming a check the scenario does not list (a log searched in wire mode is judged
    // under `no_credential_in_trace` even when the scenario turned it off) were shown above
    // through the row the check adds; skipped notes that belong to no check are listed here.
    let named: BTreeSet<String> = Invariant::ALL
        .iter()
        .map(|i| format!("{}: ", i.name()))
        .collect();
    let loose: Vec<&String> = run
        .verdict
        .skipped
        .iter()
        .filter(|s| !named.iter().any(|p| s.starts_with(p.as_str())))
        .collect();
    if !loose.is_empty() {
        page.push_str("<ul class=\"notes\">");
        for s in loose {
            let _ = write!(page, "<li>not checked: {}</li>", escape(s));
        }
        page.push_str("</ul>\n");
    }
    page.push_str("</section>\n");
}

fn phases(page: &mut String, s: &Summary) {
    page.push_str("<section id=\"phases\"><h2>Phases</h2>\n");
    if s.phases.is_empty() {
        page.push_str("<p class=\"muted\">No phase completed.</p></section>\n");
        return;
    }
    let mut durations: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for h in s.per_host.values() {
        for (phase, v) in &h.phases_ms {
            durations.entry(phase).or_default().extend(v);
        }
    }
    let ms = |v: u64| human(Duration::from_millis(v));
    page.push_str("<table class=\"phases\"><thead><tr><th>phase</th><th>count</th><th>p50</th><th>p95</th><th>max</th><th>distribution</th></tr></thead><tbody>\n");
    for p in &s.phases {
        let v = durations.get(p.phase.as_str()).cloned().unwrap_or_default();
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&p.phase),
            p.count,
            ms(p.p50_ms),
            ms(p.p95_ms),
            ms(p.max_ms),
            histogram(&v)
        );
    }
    page.push_str("</tbody></table>\n");
    if !s.waited_on.is_empty() {
        page.push_str("<h3>Waited on (mean per phase)</h3><table class=\"waits\"><thead><tr><th>phase</th><th>total</th>");
        for part in crate::waits::PARTS {
            let _ = write!(page, "<th>{}</th>", escape(part));
        }
        page.push_str("</tr></thead><tbody>\n");
        for w in &s.waited_on {
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td>",
                escape(&w.phase),
                ms(w.mean_ms)
            );
            for part in crate::waits::PARTS {
                let _ = write!(
                    page,
                    "<td>{}</td>",
                    ms(w.parts_ms.get(part).copied().unwrap_or(0))
                );
            }
            page.push_str("</tr>\n");
        }
        page.push_str("</tbody></table>\n");
    }
    page.push_str("</section>\n");
}

/// Bins of a phase's histogram.
const BINS: usize = 12;

/// A small bar chart of durations: `BINS` equal bins from 0 to the longest, each bar titled with
/// its range and count.
fn histogram(durations: &[u64]) -> String {
    const W: f64 = 180.0;
    const H: f64 = 28.0;
    let max = durations.iter().copied().max().unwrap_or(0).max(1);
    let mut bins = [0usize; BINS];
    for d in durations {
        let b = usize::try_from(u128::from(*d) * BINS as u128 / u128::from(max))
            .unwrap_or(BINS)
            .min(BINS - 1);
        bins[b] += 1;
    }
    let top = bins.iter().copied().max().unwrap_or(0).max(1);
    let bw = W / BINS as f64;
    let mut svg = format!(
        r#"<svg class="hist" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}">"#
    );
    for (i, n) in bins.iter().enumerate() {
        let h = (H - 2.0) * *n as f64 / top as f64;
        let from = max * i as u64 / BINS as u64;
        let to = max * (i as u64 + 1) / BINS as u64;
        let _ = write!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#6baed6"><title>{} – {}: {n}</title></rect>"##,
            bw * i as f64 + 0.5,
            H - h,
            bw - 1.0,
            human(Duration::from_millis(from)),
            human(Duration::from_millis(to))
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="0" y1="{H}" x2="{W}" y2="{H}" stroke="#999"/></svg>"##
    );
    svg
}

/// The trace's rows grouped by host (rows about no host in a first group), each group a
/// `<details>`; cut to the head and tail of each group when the trace is long.
fn hosts(page: &mut String, trace: &Trace, links: &[Option<usize>]) {
    let names = trace.hosts();
    let index: BTreeMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i + 1))
        .collect();
    // Group 0: rows about no host (steps, faults, the operator, pools).
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); names.len() + 1];
    for (n, e) in trace.events.iter().enumerate() {
        let g = e
            .what
            .host()
            .and_then(|h| index.get(h))
            .copied()
            .unwrap_or(0);
        groups[g].push(n);
    }
    let keep: BTreeSet<usize> = links.iter().flatten().map(|row| row - 1).collect();
    let cap = if trace.events.len() > MAX_ROWS {
        (MAX_ROWS / groups.len().max(1)).max(MIN_GROUP_ROWS)
    } else {
        usize::MAX
    };
    let _ = write!(
        page,
        "<section id=\"hosts\"><h2>Hosts <small>{} hosts, {} trace lines</small></h2>\n<p><label>Filter rows <input id=\"filter\" type=\"search\" placeholder=\"text in a row, e.g. deploy or provisioned\" autocomplete=\"off\"></label> <span id=\"shown\"></span></p>\n",
        names.len(),
        trace.events.len()
    );
    for (g, rows) in groups.iter().enumerate() {
        if g == 0 && rows.is_empty() {
            continue;
        }
        let name = if g == 0 {
            "(run: steps, faults, operator)"
        } else {
            names[g - 1].as_str()
        };
        let last_state = rows
            .iter()
            .rev()
            .find_map(|n| match &trace.events[*n].what {
                Happening::HostState { to, .. } => Some(to.as_str()),
                _ => None,
            });
        let _ = write!(
            page,
            "<details class=\"host\" id=\"host-{g}\"><summary><b>{}</b> <span class=\"count\">{} rows</span>{}</summary>\n<table class=\"rows\"><tbody>\n",
            escape(name),
            rows.len(),
            last_state
                .map(|s| format!(" · last state {}", escape(s)))
                .unwrap_or_default()
        );
        let head = cap / 2 + cap % 2;
        let tail = cap / 2;
        let mut cut = 0usize;
        for (k, n) in rows.iter().enumerate() {
            let shown = rows.len() <= cap || k < head || k + tail >= rows.len() || keep.contains(n);
            if !shown {
                cut += 1;
                continue;
            }
            if cut > 0 {
                let _ = writeln!(
                    page,
                    "<tr class=\"cut\"><td colspan=\"4\">… {cut} rows left out (see trace.jsonl)</td></tr>"
                );
                cut = 0;
            }
            row(page, *n + 1, &trace.events[*n]);
        }
        if cut > 0 {
            let _ = writeln!(
                page,
                "<tr class=\"cut\"><td colspan=\"4\">… {cut} rows left out (see trace.jsonl)</td></tr>"
            );
        }
        page.push_str("</tbody></table></details>\n");
    }
    page.push_str("</section>\n");
}

fn row(page: &mut String, line: usize, e: &TraceLine) {
    let t = e.t.since_start();
    let kind = e.what.kind();
    let _ = writeln!(
        page,
        "<tr class=\"r {kind}\" id=\"row-{line}\"><td class=\"n\">{line}</td><td class=\"t\">{}.{:03} s</td><td class=\"k\">{kind}</td><td>{}</td></tr>",
        t.as_secs(),
        t.subsec_millis(),
        escape(&describe(&e.what))
    );
}

const CSS: &str = "\
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 16px 40px;color:#222}\
h1{font-size:22px;margin:16px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}\
h2 small,.muted{color:#777;font-weight:normal;font-size:13px}\
header.pass .word{color:#1a7f37}header.fail .word{color:#c62828}\
code.cmd{display:inline-block;background:#f4f4f4;border:1px solid #ccc;padding:2px 6px;user-select:all;font-size:13px}\
.banner{background:#fff3cd;border:1px solid #e0c060;padding:6px 10px}\
table{border-collapse:collapse}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}\
table.checks td.says{font-family:monospace;font-size:12px;max-width:420px;word-break:break-word}\
tr.check.fail td.status{color:#c62828;font-weight:bold}tr.check.pass td.status{color:#1a7f37}\
tr.check.n-a td.status,tr.check.not-checked td.status,tr.check.not-run td.status{color:#8a6d00}\
.failure{color:#c62828}.note{color:#8a6d00}\
.svg{overflow-x:auto}svg.hist{vertical-align:middle}\
details.host{margin:4px 0;border:1px solid #e4e4e4;border-radius:4px}details.host>summary{padding:4px 8px;cursor:pointer}\
table.rows{width:100%;font-family:monospace;font-size:12px}table.rows td.n,table.rows td.t{color:#777;white-space:nowrap}\
tr.r.step_failed td,tr.cut td{color:#c62828}tr.r:target{background:#ffe08a;outline:2px solid #c62828}\
";

/// The page's only script: the row filter, and opening the section that holds the row a link
/// points at (`#row-N`).
const SCRIPT: &str = r#"
(function () {
  var filter = document.getElementById('filter');
  var shown = document.getElementById('shown');
  var groups = Array.prototype.slice.call(document.querySelectorAll('details.host'));
  filter.addEventListener('input', function () {
    var q = filter.value.trim().toLowerCase();
    var total = 0;
    groups.forEach(function (d) {
      var n = 0;
      d.querySelectorAll('tr.r').forEach(function (r) {
        var hit = q === '' || r.textContent.toLowerCase().indexOf(q) >= 0;
        r.hidden = !hit;
        if (hit) { n++; }
      });
      d.hidden = q !== '' && n === 0;
      if (q !== '' && n > 0) { d.open = true; }
      total += n;
    });
    shown.textContent = q === '' ? '' : total + ' rows match';
  });
  function reveal() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (!el) { return; }
    el.hidden = false;
    for (var p = el.parentElement; p; p = p.parentElement) {
      if (p.tagName === 'DETAILS') { p.open = true; p.hidden = false; }
    }
    el.scrollIntoView({ block: 'center' });
  }
  window.addEventListener('hashchange', reveal);
  reveal();
})();
"#;

#[cfg(test)]
mod tests;
