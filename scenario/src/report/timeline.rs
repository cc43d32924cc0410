//! The SVG timeline of a run: a row per host, a bar per state, fault windows and operator
//! restarts, on a time axis in human units with round ticks.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use metal_sim::machine::SimTime;

use super::units::{human, ticks};
use super::{escape, state_colour};
use crate::format::FaultTarget;
use crate::trace::{Happening, Trace};

/// The narrowest bar drawn, in pixels: a state that lasted a moment of a long run (`provisioned`
/// between provisioning and deprovisioning) stays visible, drawn over its neighbours.
pub const MIN_BAR: f64 = 3.0;

/// Rows drawn at most; further hosts are counted in a note under the chart.
pub const MAX_ROWS: usize = 400;

/// The SVG timeline: one row per host (sorted by name), a bar per state, errors outlined in red,
/// fault windows as hatched overlays on the affected rows (across all rows for Ironic and
/// control-plane faults), operator restarts as dashed vertical lines, a marker per step that
/// changes something (apply, scale, fault injected or cleared, operator restart, claims, …), and
/// a legend.
pub fn timeline_svg(title: &str, trace: &Trace) -> String {
    const LABEL: f64 = 170.0;
    const PLOT: f64 = 900.0;
    const ROW: f64 = 14.0;
    const TOP: f64 = 40.0;
    let hosts = trace.hosts();
    let shown: Vec<&String> = hosts.iter().take(MAX_ROWS).collect();
    let row_of: BTreeMap<&str, usize> = shown
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    let end = trace.end().as_nanos().max(1) as f64;
    let x = |t: SimTime| LABEL + PLOT * (t.as_nanos() as f64 / end);
    let height = TOP + ROW * shown.len() as f64 + 70.0;
    let width = LABEL + PLOT + 20.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="10">"#
    );
    let _ = writeln!(
        svg,
        r##"<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="3" height="6" fill="#d62728" fill-opacity="0.45"/></pattern></defs>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="4" y="14" font-size="13">{} — {} host{}, {} simulated</text>"#,
        escape(title),
        hosts.len(),
        if hosts.len() == 1 { "" } else { "s" },
        human(trace.end().since_start())
    );
    // Time axis: round steps, at most six.
    for tick in ticks(trace.end().since_start(), 6) {
        let tx = x(SimTime::from_nanos(
            u64::try_from(tick.as_nanos()).unwrap_or(u64::MAX),
        ));
        let _ = writeln!(
            svg,
            r##"<line x1="{tx:.1}" y1="{}" x2="{tx:.1}" y2="{:.1}" stroke="#ccc"/><text x="{tx:.1}" y="{}" text-anchor="middle">{}</text>"##,
            TOP - 8.0,
            TOP + ROW * shown.len() as f64,
            TOP - 10.0,
            human(tick)
        );
    }
    // State bars, with error periods outlined.
    let mut open: BTreeMap<&str, (&str, SimTime, bool)> = BTreeMap::new();
    let mut in_error: BTreeMap<&str, bool> = BTreeMap::new();
    // Bars are collected, then drawn widest first, so a short state lands on top of its neighbours.
    let mut bars: Vec<Bar> = Vec::new();
    let bar = |bars: &mut Vec<Bar>,
               host: &str,
               state: &str,
               from: SimTime,
               to: SimTime,
               err: bool| {
        let Some(row) = row_of.get(host) else { return };
        let (x0, x1) = (x(from), x(to));
        let width = (x1 - x0).max(MIN_BAR);
        let stroke = if err {
            r##" stroke="#d62728" stroke-width="1.5""##
        } else {
            ""
        };
        let rect = format!(
            r#"<rect x="{:.1}" y="{:.1}" width="{width:.1}" height="{:.1}" fill="{}"{stroke}><title>{}: {} ({} – {}, {})</title></rect>"#,
            x0.min(LABEL + PLOT - width),
            TOP + ROW * *row as f64 + 1.0,
            ROW - 2.0,
            state_colour(state),
            escape(host),
            escape(state),
            human(from.since_start()),
            human(to.since_start()),
            human(to.saturating_since(from))
        );
        bars.push(Bar { width, rect });
    };
    for e in &trace.events {
        match &e.what {
            Happening::HostState { host, to, .. } => {
                let err = in_error.get(host.as_str()).copied().unwrap_or(false);
                if let Some((state, since, was_err)) = open.remove(host.as_str()) {
                    bar(&mut bars, host, state, since, e.t, was_err);
                }
                open.insert(host, (to.as_str(), e.t, err));
            }
            Happening::HostStatus {
                host, error_type, ..
            } => {
                let err = error_type.is_some();
                in_error.insert(host, err);
                if let Some(entry) = open.get_mut(host.as_str())
                    && entry.2 != err
                {
                    let (state, since, was_err) = *entry;
                    bar(&mut bars, host, state, since, e.t, was_err);
                    *entry = (state, e.t, err);
                }
            }
            Happening::HostGone { host } => {
                if let Some((state, since, was_err)) = open.remove(host.as_str()) {
                    bar(&mut bars, host, state, since, e.t, was_err);
                }
            }
            _ => {}
        }
    }
    let last = trace.end();
    for (host, (state, since, err)) in open {
        bar(&mut bars, host, state, since, last, err);
    }
    bars.sort_by(|a, b| b.width.total_cmp(&a.width));
    for b in bars {
        let _ = writeln!(svg, "{}", b.rect);
    }
    // Fault windows.
    let mut faults: BTreeMap<&str, (FaultTarget, &[String], SimTime)> = BTreeMap::new();
    let mut windows = Vec::new();
    for e in &trace.events {
        if let Happening::Fault {
            name,
            target,
            hosts,
            active,
        } = &e.what
        {
            if *active {
                faults.insert(name, (*target, hosts, e.t));
            } else if let Some((target, hosts, from)) = faults.remove(name.as_str()) {
                windows.push((name.as_str(), target, hosts, from, e.t));
            }
        }
    }
    for (name, (target, hosts, from)) in faults {
        windows.push((name, target, hosts, from, last));
    }
    for (name, target, hosts, from, to) in windows {
        let (x0, w) = (x(from), (x(to) - x(from)).max(1.0));
        let rows: Vec<usize> = if hosts.is_empty()
            || matches!(target, FaultTarget::Ironic | FaultTarget::ControlPlane)
        {
            (0..shown.len()).collect()
        } else {
            hosts
                .iter()
                .filter_map(|h| row_of.get(h.as_str()).copied())
                .collect()
        };
        for row in rows {
            let _ = writeln!(
                svg,
                r#"<rect x="{x0:.1}" y="{:.1}" width="{w:.1}" height="{ROW}" fill="url(#hatch)"><title>fault {} ({:?}) {} – {}</title></rect>"#,
                TOP + ROW * row as f64,
                escape(name),
                target,
                human(from.since_start()),
                human(to.since_start())
            );
        }
        let _ = writeln!(
            svg,
            r##"<text x="{x0:.1}" y="{:.1}" fill="#d62728">⚡ {}</text>"##,
            TOP - 20.0,
            escape(name)
        );
    }
    // Operator restarts.
    for e in &trace.events {
        if let Happening::Operator { running: false } = e.what {
            let tx = x(e.t);
            let _ = writeln!(
                svg,
                r##"<line x1="{tx:.1}" y1="{TOP}" x2="{tx:.1}" y2="{:.1}" stroke="#000" stroke-dasharray="4,3"><title>operator stopped at {}</title></line>"##,
                TOP + ROW * shown.len() as f64,
                human(e.t.since_start())
            );
        }
    }
    // Step markers: a triangle over the plot at each step that changes something (not `advance`,
    // `wait` or `assert`), its detail in the title.
    for e in &trace.events {
        if let Happening::Step {
            index,
            line,
            keyword,
            summary,
        } = &e.what
            && !matches!(keyword.as_str(), "advance" | "wait" | "assert")
        {
            let tx = x(e.t);
            let _ = writeln!(
                svg,
                r##"<path class="step-marker" d="M{:.1} {:.1} L{:.1} {:.1} L{tx:.1} {:.1} Z" fill="#444"><title>step {} (line {line}) at {}: {}: {}</title></path>"##,
                tx - 4.0,
                TOP - 9.0,
                tx + 4.0,
                TOP - 9.0,
                TOP - 2.0,
                index + 1,
                human(e.t.since_start()),
                escape(keyword),
                escape(summary)
            );
        }
    }
    for (i, h) in shown.iter().enumerate() {
        let _ = writeln!(
            svg,
            r#"<text x="4" y="{:.1}">{}</text>"#,
            TOP + ROW * i as f64 + ROW - 3.0,
            escape(h)
        );
    }
    let mut ly = TOP + ROW * shown.len() as f64 + 18.0;
    if hosts.len() > shown.len() {
        let _ = writeln!(
            svg,
            r#"<text x="4" y="{ly:.1}">… and {} more hosts (not drawn)</text>"#,
            hosts.len() - shown.len()
        );
        ly += 16.0;
    }
    let legend = [
        "registering",
        "inspecting",
        "available",
        "provisioning",
        "provisioned",
        "externally provisioned",
        "deprovisioning",
        "deleting",
    ];
    let mut lx = 4.0;
    for state in legend {
        let _ = writeln!(
            svg,
            r#"<rect x="{lx:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{ly:.1}">{state}</text>"#,
            ly - 9.0,
            state_colour(state),
            lx + 13.0
        );
        lx += 13.0 + 6.0 * state.len() as f64 + 10.0;
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{lx:.1}" y="{:.1}" width="10" height="10" fill="url(#hatch)"/><text x="{:.1}" y="{ly:.1}">fault</text>"##,
        ly - 9.0,
        lx + 13.0
    );
    svg.push_str("</svg>\n");
    svg
}

/// One state bar, kept until all are known so the narrow ones are drawn last.
struct Bar {
    width: f64,
    rect: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::trace;

    #[test]
    fn the_timeline_has_a_row_per_host_and_marks_fault_windows() {
        let svg = timeline_svg("x", &trace());
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches(">a</text>").count(), 1);
        assert_eq!(svg.matches(">b</text>").count(), 1);
        assert!(
            svg.contains("<title>fault flaky (Bmc) 30 s – 1 min 40 s</title>"),
            "{svg}"
        );
        // 3 bars per host (registering, inspecting, available).
        assert_eq!(svg.matches("<title>a: ").count(), 3);
    }

    #[test]
    fn steps_that_change_something_get_a_marker_with_their_detail() {
        let mut t = trace();
        let step = |index: usize, keyword: &str, summary: &str| Happening::Step {
            index,
            line: 10 + index,
            keyword: keyword.into(),
            summary: summary.into(),
        };
        t.push(
            SimTime::from_secs(100),
            step(0, "scale_pool", "{\"pool\":\"<p>\"}"),
        );
        t.push(SimTime::from_secs(100), step(1, "wait", "{}"));
        t.push(
            SimTime::from_secs(100),
            step(2, "inject_fault", "{\"name\":\"x\"}"),
        );
        let svg = timeline_svg("x", &t);
        assert_eq!(svg.matches("class=\"step-marker\"").count(), 2, "{svg}");
        assert!(
            svg.contains("<title>step 1 (line 10) at 1 min 40 s: scale_pool: {&quot;pool&quot;:&quot;&lt;p&gt;&quot;}</title>"),
            "{svg}"
        );
    }

    #[test]
    fn times_read_in_human_units_on_round_ticks() {
        let mut t = trace();
        // An end that is not a round number of milliseconds (it printed as microseconds).
        t.push(
            SimTime::from_nanos(100_000_123_457),
            Happening::HostGone { host: "b".into() },
        );
        let svg = timeline_svg("x", &t);
        assert!(svg.contains("2 hosts, 1 min 40 s simulated"), "{svg}");
        assert!(!svg.contains("us<") && !svg.contains("us)"), "{svg}");
        for tick in ["0 s", "30 s", "1 min", "1 min 30 s"] {
            assert!(
                svg.contains(&format!(r#"text-anchor="middle">{tick}</text>"#)),
                "{tick}"
            );
        }
        assert!(!svg.contains(r#"text-anchor="middle">1 min 40 s</text>"#));
    }

    #[test]
    fn a_state_of_a_moment_stays_visible_on_top_of_its_neighbours() {
        let mut t = Trace::new();
        let at = |ms: u64| SimTime::from_nanos(ms * 1_000_000);
        for (ms, from, to) in [
            (0, "", "provisioning"),
            (3_600_000, "provisioning", "provisioned"),
            (3_600_050, "provisioned", "deprovisioning"),
            (7_200_000, "deprovisioning", "available"),
        ] {
            t.push(
                at(ms),
                Happening::HostState {
                    host: "h".into(),
                    from: from.into(),
                    to: to.into(),
                    cause: "test".into(),
                    revision: None,
                },
            );
        }
        t.push(at(9_000_000), Happening::HostGone { host: "h".into() });
        let svg = timeline_svg("x", &t);
        let rects: Vec<&str> = svg.lines().filter(|l| l.contains("<title>h: ")).collect();
        assert_eq!(rects.len(), 4, "{svg}");
        let last = rects.last().unwrap();
        assert!(last.contains("<title>h: provisioned"), "drawn last: {last}");
        assert!(last.contains(&format!(r#"width="{MIN_BAR:.1}""#)), "{last}");
        assert!(last.contains("(1 h – 1 h, 50 ms)"), "{last}");
    }
}
