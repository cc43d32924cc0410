//! `index.html` of a seed sweep: one row per seed, failing seeds first, each linking the seed's
//! own `report.html`.

use std::fmt::Write as _;

use super::escape;

/// One seed of a sweep, as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// Whether every check held.
    pub passed: bool,
    /// The seed's `report.html`, relative to the index (none when the seed wrote no outputs).
    pub report: Option<String>,
    /// One line per failure, or why the seed could not run.
    pub failures: Vec<String>,
    /// The command that runs this seed again.
    pub rerun: String,
}

/// Failure lines shown per seed; the seed's report has them all.
const SHOWN_FAILURES: usize = 3;

/// The index page of a sweep titled `title`: a count, then the failing seeds (in seed order),
/// then the passing ones.
pub fn index_html(title: &str, seeds: &[SeedReport]) -> String {
    let failed = seeds.iter().filter(|s| !s.passed).count();
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>{}</title><style>{CSS}</style></head><body>\n<h1>{}</h1>\n<p id=\"tally\">{} seeds: <b class=\"{}\">{failed} failed</b>, {} passed</p>\n<table><thead><tr><th>seed</th><th>result</th><th>report</th><th>failures</th><th>rerun</th></tr></thead><tbody>\n",
        escape(title),
        escape(title),
        seeds.len(),
        if failed > 0 { "fail" } else { "pass" },
        seeds.len() - failed
    );
    let mut order: Vec<&SeedReport> = seeds.iter().collect();
    order.sort_by_key(|s| (s.passed, s.seed));
    for s in order {
        let (class, word) = if s.passed {
            ("pass", "pass")
        } else {
            ("fail", "FAIL")
        };
        let _ = write!(
            page,
            "<tr class=\"seed {class}\" id=\"seed-{}\"><td>{}</td><td class=\"status\">{word}</td><td>",
            s.seed, s.seed
        );
        match &s.report {
            Some(href) => {
                let _ = write!(
                    page,
                    "<a href=\"{}\">report</a>",
                    escape(&href.replace('#', "%23"))
                );
            }
            None => page.push_str("<span class=\"muted\">none</span>"),
        }
        page.push_str("</td><td>");
        for f in s.failures.iter().take(SHOWN_FAILURES) {
            let _ = write!(page, "<div>{}</div>", escape(f));
        }
        if s.failures.len() > SHOWN_FAILURES {
            let _ = write!(
                page,
                "<div class=\"muted\">… and {} more</div>",
                s.failures.len() - SHOWN_FAILURES
            );
        }
        let _ = writeln!(page, "</td><td><code>{}</code></td></tr>", escape(&s.rerun));
    }
    page.push_str("</tbody></table>\n</body></html>\n");
    page
}

const CSS: &str = "\
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 16px 40px;color:#222}\
h1{font-size:20px}table{border-collapse:collapse}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}\
.fail,tr.fail td.status{color:#c62828}.pass,tr.pass td.status{color:#1a7f37}.muted{color:#777}\
code{background:#f4f4f4;padding:1px 4px;font-size:12px;user-select:all}\
";

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(seed: u64, passed: bool) -> SeedReport {
        SeedReport {
            seed,
            passed,
            report: Some(format!("s-seed{seed}/report.html")),
            failures: if passed {
                Vec::new()
            } else {
                vec![format!("line 9: <host-{seed}> final state")]
            },
            rerun: format!("metal-sim run x.yaml --engine --seed {seed}"),
        }
    }

    #[test]
    fn the_index_lists_failing_seeds_first_and_links_each_report() {
        let page = index_html(
            "x seeds 1..4",
            &[seed(1, true), seed(2, false), seed(3, true), seed(4, false)],
        );
        let order: Vec<usize> = [2, 4, 1, 3]
            .iter()
            .map(|s| page.find(&format!("id=\"seed-{s}\"")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{page}");
        assert!(page.contains("4 seeds: <b class=\"fail\">2 failed</b>, 2 passed"));
        for s in 1..=4 {
            assert!(page.contains(&format!("href=\"s-seed{s}/report.html\"")));
        }
        assert!(page.contains("&lt;host-2&gt;") && !page.contains("<host-2>"));
    }
}
