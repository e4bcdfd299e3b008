//! `lakebench --days N --daily`: how a lake ages. One lake of N days is generated, then the
//! daily pipeline runs date by date, and each day's wall time, peak RSS and file counts (the
//! whole lake, and `_lakejob/`) are recorded; at the end `lakejob maintain` runs with no
//! retention (`--force`, nothing else runs) and the live and unreferenced files of every Delta
//! table are counted. The report compares the median wall time of the last 10 days with
//! that of days 2 to 11.

use std::path::Path;

use chrono::{Days, NaiveDate};
use serde::Serialize;

use crate::{Options, measure, measure_accepting};

/// The first date of the generated lake.
const START: &str = "2025-01-01";

/// One day of the pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct Day {
    pub day: u64,
    pub date: String,
    pub wall_s: f64,
    pub peak_rss_mb: f64,
    /// Every file in the lake after the day.
    pub files: u64,
    /// Files under `_lakejob/` after the day.
    pub state_files: u64,
    /// Whether a quality gate held a job's output back that day (exit 3): the day is still
    /// measured, as a scheduler would run the next one.
    pub quality_failed: bool,
}

/// What ageing the lake showed.
#[derive(Debug, Clone, Serialize)]
pub struct Ageing {
    pub scale: f64,
    pub days: Vec<Day>,
    /// Median wall time of days 2 to 11, and of the last 10 days.
    pub early_median_s: f64,
    pub late_median_s: f64,
    /// late / early: at most 1.3 is the target.
    pub ratio: f64,
    /// Files of the lake, and of `_lakejob/`, before and after the final maintenance.
    pub files_before_maintain: u64,
    pub files_after_maintain: u64,
    pub state_files_after_maintain: u64,
}

pub fn age(options: &Options, scale: f64, days: u64) -> Result<Ageing, String> {
    let lake = options.work.join(format!("daily-{scale}-{days}"));
    let _ = std::fs::remove_dir_all(&lake);
    let lake_arg = lake.display().to_string();
    let base = ["--lake", lake_arg.as_str(), "--output", "json"];
    let generate = [
        "sample",
        "generate",
        "--scale",
        &scale.to_string(),
        "--days",
        &days.to_string(),
        "--start",
        START,
    ];
    measure(&options.lakejob, &args(&base, &generate, &[]))?;
    let start = NaiveDate::parse_from_str(START, "%Y-%m-%d").map_err(|e| e.to_string())?;
    let mut measured = Vec::new();
    for day in 0..days {
        let date = start
            .checked_add_days(Days::new(day))
            .ok_or("a date past the calendar")?
            .to_string();
        let run = ["pipeline", "run", "daily", "--date", date.as_str()];
        let usage = measure_accepting(
            &options.lakejob,
            &args(&base, &run, &options.job_args),
            &[0, 3],
        )?;
        measured.push(Day {
            day: day + 1,
            date,
            wall_s: usage.wall.as_secs_f64(),
            peak_rss_mb: usage.peak_rss_kb as f64 / 1024.0,
            files: count_files(&lake),
            state_files: count_files(&lake.join("_lakejob")),
            quality_failed: usage.code == Some(3),
        });
        eprintln!(
            "day {}: {:.2} s, {} files",
            day + 1,
            measured.last().map_or(0.0, |d| d.wall_s),
            measured.last().map_or(0, |d| d.files)
        );
    }
    let files_before_maintain = count_files(&lake);
    let maintain = [
        "maintain",
        "--retention",
        "0s",
        "--keep-records",
        "0s",
        "--force",
    ];
    measure(&options.lakejob, &args(&base, &maintain, &[]))?;
    let walls = |range: &[Day]| median(range.iter().map(|d| d.wall_s).collect());
    let early = walls(measured.get(1..11.min(measured.len())).unwrap_or_default());
    let late = walls(&measured[measured.len().saturating_sub(10)..]);
    Ok(Ageing {
        scale,
        early_median_s: early,
        late_median_s: late,
        ratio: late / early.max(1e-9),
        files_before_maintain,
        files_after_maintain: count_files(&lake),
        state_files_after_maintain: count_files(&lake.join("_lakejob")),
        days: measured,
    })
}

fn args(base: &[&str], command: &[&str], extra: &[String]) -> Vec<String> {
    base.iter()
        .chain(command)
        .map(|s| s.to_string())
        .chain(extra.iter().cloned())
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn count_files(path: &Path) -> u64 {
    std::fs::read_dir(path).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    count_files(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

/// The days as a Markdown table, with the comparison.
pub fn markdown(ageing: &Ageing) -> String {
    let mut table = String::from(
        "| day | date | wall s | peak RSS MB | files | _lakejob files |\n|---|---|---|---|---|---|\n",
    );
    for day in &ageing.days {
        let gate = if day.quality_failed {
            " (a gate held output back)"
        } else {
            ""
        };
        table.push_str(&format!(
            "| {} | {}{gate} | {:.2} | {:.0} | {} | {} |\n",
            day.day, day.date, day.wall_s, day.peak_rss_mb, day.files, day.state_files
        ));
    }
    table.push_str(&format!(
        "\nmedian wall, days 2-11: {:.2} s; last 10 days: {:.2} s; ratio {:.2} (target at most 1.3)\n\
         files before the final maintain: {}; after: {} ({} under _lakejob/)\n",
        ageing.early_median_s,
        ageing.late_median_s,
        ageing.ratio,
        ageing.files_before_maintain,
        ageing.files_after_maintain,
        ageing.state_files_after_maintain
    ));
    table
}

/// Wall time per day and the lake's file count per day, as two line charts in one SVG.
pub fn chart(ageing: &Ageing) -> String {
    let (width, height, margin) = (760.0, 260.0, 50.0);
    let panel = |title: &str, top: f64, values: Vec<f64>, unit: &str| {
        let high = values.iter().copied().fold(f64::MIN, f64::max).max(1e-9);
        let count = values.len().max(2) as f64;
        let x = |i: usize| margin + i as f64 / (count - 1.0) * (width - 2.0 * margin);
        let y = |v: f64| top + height - margin - v / high * (height - 2.0 * margin);
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{title}</text>\n\
             <line x1=\"{margin}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n\
             <line x1=\"{margin}\" y1=\"{}\" x2=\"{margin}\" y2=\"{}\" stroke=\"black\"/>\n\
             <text x=\"5\" y=\"{}\" font-size=\"10\">{high:.1} {unit}</text>\n\
             <text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">day {}</text>\n\
             <polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"{}\"/>\n",
            width / 2.0,
            top + 20.0,
            top + height - margin,
            width - margin,
            top + height - margin,
            top + margin,
            top + height - margin,
            top + margin,
            width - margin,
            top + height - margin + 15.0,
            values.len(),
            points.join(" ")
        )
    };
    let title = format!(
        "daily pipeline at scale {} over {} days: wall time per day (late/early median {:.2})",
        ageing.scale,
        ageing.days.len(),
        ageing.ratio
    );
    let walls = ageing.days.iter().map(|d| d.wall_s).collect();
    let files = ageing.days.iter().map(|d| d.files as f64).collect();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n{}{}</svg>\n",
        2.0 * height,
        panel(&title, 0.0, walls, "s"),
        panel("files in the lake after each day", height, files, "files")
    )
}
