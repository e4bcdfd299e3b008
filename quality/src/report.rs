//! The HTML report of a run: every rule with its outcome, observed value and threshold, and
//! trend charts of the score and row counts over past runs. One self-contained file: inline CSS
//! and SVG, no scripts, no external assets, so it opens anywhere (a bucket, a mail attachment).

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::evaluate::{Outcome, RuleResult, format_observed};

/// One past run in the trend charts.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPoint {
    /// The run.
    pub run_id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its quality score.
    pub score: f64,
    /// Rows it produced.
    pub rows_out: u64,
    /// Whether its gate passed.
    pub gate_passed: bool,
}

/// Everything one report page shows.
#[derive(Debug)]
pub struct ReportPage<'a> {
    /// The job.
    pub job: &'a str,
    /// Its target table, `database.table`.
    pub target: &'a str,
    /// This run.
    pub run_id: &'a str,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// The run's status (`succeeded`, `quality_failed`).
    pub status: &'a str,
    /// Rows read, written, rejected and dropped as duplicates.
    pub rows: [(&'a str, u64); 4],
    /// The score and the gate.
    pub score: f64,
    /// The gate.
    pub min_score: f64,
    /// The rules' outcomes.
    pub rules: &'a [RuleResult],
    /// Earlier runs and this one, oldest first.
    pub history: &'a [RunPoint],
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:60rem;color:#1f2328;padding:0 1rem}\
h1{font-size:1.4rem;margin-bottom:.2rem}.meta{color:#59636e;margin-top:0}\
.verdict{display:inline-block;padding:.2rem .6rem;border-radius:.3rem;font-weight:600}\
.pass{background:#dafbe1;color:#116329}.fail{background:#ffebe9;color:#a40e26}.skip{background:#eaeef2;color:#59636e}\
table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #d1d9e0;vertical-align:top}\
th{background:#f6f8fa}.num{text-align:right;font-variant-numeric:tabular-nums}\
.charts{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0}figcaption{font-size:.9rem;color:#59636e}";

impl ReportPage<'_> {
    /// The page as one HTML document.
    pub fn render(&self) -> String {
        let gate_passed = self.score + 1e-12 >= self.min_score;
        let (verdict_class, verdict) = if gate_passed {
            ("pass", "gate passed")
        } else {
            ("fail", "gate failed")
        };
        let mut html = String::new();
        let _ = write!(
            html,
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>Quality: {job} {run}</title><style>{STYLE}</style></head><body>\
             <h1>{job} &rarr; {target}</h1>\
             <p class=\"meta\">run {run}, started {started}, status {status}</p>\
             <p><span class=\"verdict {verdict_class}\">{verdict}</span> \
             score <strong>{score:.3}</strong>, gate {gate}</p>",
            job = escape(self.job),
            target = escape(self.target),
            run = escape(self.run_id),
            started = self.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            status = escape(self.status),
            score = self.score,
            gate = format_observed(Some(self.min_score)),
        );
        html.push_str("<table><tr>");
        for (label, _) in &self.rows {
            let _ = write!(html, "<th class=\"num\">{}</th>", escape(label));
        }
        html.push_str("</tr><tr>");
        for (_, count) in &self.rows {
            let _ = write!(html, "<td class=\"num\">{count}</td>");
        }
        html.push_str("</tr></table>");
        self.rules_table(&mut html);
        html.push_str("<h2>Trend</h2><div class=\"charts\">");
        let scores: Vec<(f64, bool)> = self
            .history
            .iter()
            .map(|p| (p.score, p.gate_passed))
            .collect();
        let rows: Vec<(f64, bool)> = self
            .history
            .iter()
            .map(|p| (p.rows_out as f64, p.gate_passed))
            .collect();
        let max_rows = rows.iter().map(|(v, _)| *v).fold(0.0_f64, f64::max);
        html.push_str(&chart(
            "score per run (dashed: gate)",
            &scores,
            1.0,
            Some(self.min_score),
        ));
        html.push_str(&chart("rows out per run", &rows, max_rows.max(1.0), None));
        let first = self.history.first().map(|p| p.started_at);
        let last = self.history.last().map(|p| p.started_at);
        if let (Some(first), Some(last)) = (first, last) {
            let _ = write!(
                html,
                "</div><p class=\"meta\">{} runs from {} to {}; red points are runs whose gate failed.</p>",
                self.history.len(),
                first.format("%Y-%m-%d %H:%M"),
                last.format("%Y-%m-%d %H:%M")
            );
        } else {
            html.push_str("</div>");
        }
        html.push_str("</body></html>\n");
        html
    }

    fn rules_table(&self, html: &mut String) {
        html.push_str(
            "<h2>Rules</h2><table><tr><th>rule</th><th>kind</th><th>severity</th><th class=\"num\">weight</th>\
             <th class=\"num\">observed</th><th>threshold</th><th>outcome</th></tr>",
        );
        for rule in self.rules {
            let (class, outcome) = match rule.outcome {
                Outcome::Passed => ("pass", "passed"),
                Outcome::Failed => ("fail", "failed"),
                Outcome::NotEvaluated => ("skip", "not evaluated"),
            };
            let detail = rule.detail.as_deref().map_or(String::new(), |d| {
                format!("<br><small>{}</small>", escape(d))
            });
            let _ = write!(
                html,
                "<tr><td>{}{detail}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td>{}</td><td><span class=\"verdict {class}\">{outcome}</span></td></tr>",
                escape(&rule.rule),
                rule.kind,
                rule.severity.as_str(),
                format_observed(Some(rule.weight)),
                format_observed(rule.observed),
                escape(&rule.threshold),
            );
        }
        if self.rules.is_empty() {
            html.push_str("<tr><td colspan=\"7\">The job declares no rules.</td></tr>");
        }
        html.push_str("</table>");
    }
}

/// A small line chart of values from 0 to `top`, one point per run; failed runs in red.
fn chart(title: &str, values: &[(f64, bool)], top: f64, guide: Option<f64>) -> String {
    const WIDTH: f64 = 440.0;
    const HEIGHT: f64 = 160.0;
    const LEFT: f64 = 56.0;
    const PAD: f64 = 12.0;
    let plot_width = WIDTH - LEFT - PAD;
    let plot_height = HEIGHT - 2.0 * PAD;
    let x = |index: usize| {
        if values.len() <= 1 {
            LEFT + plot_width / 2.0
        } else {
            LEFT + plot_width * index as f64 / (values.len() - 1) as f64
        }
    };
    let y = |value: f64| PAD + plot_height * (1.0 - (value / top).clamp(0.0, 1.0));
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{title}\">\
         <rect x=\"{LEFT}\" y=\"{PAD}\" width=\"{plot_width}\" height=\"{plot_height}\" fill=\"#f6f8fa\"/>\
         <text x=\"{label_x}\" y=\"{top_y}\" font-size=\"11\" text-anchor=\"end\" fill=\"#59636e\">{top_label}</text>\
         <text x=\"{label_x}\" y=\"{bottom_y}\" font-size=\"11\" text-anchor=\"end\" fill=\"#59636e\">0</text>",
        title = escape(title),
        label_x = LEFT - 6.0,
        top_y = PAD + 4.0,
        bottom_y = PAD + plot_height,
        top_label = format_observed(Some(top)),
    );
    if let Some(guide) = guide {
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{right}\" y1=\"{gy:.1}\" y2=\"{gy:.1}\" stroke=\"#9a6700\" stroke-dasharray=\"4 3\"/>",
            right = LEFT + plot_width,
            gy = y(guide),
        );
    }
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, (v, _))| format!("{:.1},{:.1}", x(i), y(*v)))
        .collect();
    if points.len() > 1 {
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"#0969da\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
    }
    for (i, (v, passed)) in values.iter().enumerate() {
        let colour = if *passed { "#0969da" } else { "#cf222e" };
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{colour}\"><title>{}</title></circle>",
            x(i),
            y(*v),
            format_observed(Some(*v))
        );
    }
    let _ = write!(
        svg,
        "</svg><figcaption>{}</figcaption></figure>",
        escape(title)
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Severity;

    fn page_with<'a>(rules: &'a [RuleResult], history: &'a [RunPoint]) -> String {
        ReportPage {
            job: "transaction_etl",
            target: "processed.transactions",
            run_id: "r1",
            started_at: DateTime::<Utc>::UNIX_EPOCH,
            status: "quality_failed",
            rows: [("in", 10), ("out", 8), ("rejected", 1), ("duplicate", 1)],
            score: 0.5,
            min_score: 0.95,
            rules,
            history,
        }
        .render()
    }

    #[test]
    fn escapes_rule_text_and_draws_one_point_per_run() {
        let rules = [RuleResult {
            rule: "<script>alert(1)</script>".into(),
            kind: "custom_sql",
            observed: Some(3.0),
            threshold: "<= 0".into(),
            outcome: Outcome::Failed,
            detail: Some("a & b".into()),
            severity: Severity::Error,
            weight: 1.0,
        }];
        let history: Vec<RunPoint> = (0..3u32)
            .map(|i| RunPoint {
                run_id: format!("r{i}"),
                started_at: DateTime::<Utc>::UNIX_EPOCH,
                score: 1.0 - f64::from(i) * 0.25,
                rows_out: 100 * u64::from(i),
                gate_passed: i < 2,
            })
            .collect();
        let html = page_with(&rules, &history);
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("a &amp; b") && html.contains("&lt;= 0"));
        assert_eq!(html.matches("<circle").count(), 6, "3 runs in 2 charts");
        assert_eq!(
            html.matches("#cf222e").count(),
            2,
            "the failed run, once per chart"
        );
        assert!(html.contains("gate failed"));
        assert!(
            !html.contains("src=") && !html.contains("href="),
            "no external assets"
        );
    }

    #[test]
    fn a_first_run_without_rules_still_renders() {
        let html = page_with(&[], &[]);
        assert!(html.contains("declares no rules"));
        assert!(html.ends_with("</html>\n"));
    }
}
