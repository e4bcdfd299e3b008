//! `lakebench`: runs lakejob commands as whole processes at several scales and reports wall
//! time, CPU time, peak RSS, rows/s and input MB/s, as JSON and as a Markdown table.
//!
//! Peak RSS and CPU time come from `/proc/<pid>` of the child, sampled until it exits, so
//! the numbers are the job's own, not the harness's.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use serde::Serialize;

mod daily;

/// Benchmark lakejob jobs as whole processes.
#[derive(Debug, Parser)]
#[command(name = "lakebench")]
struct Options {
    /// The lakejob binary to measure.
    #[arg(long, default_value = "target/release/lakejob")]
    lakejob: PathBuf,
    /// Where the benchmark lakes live (one per scale, reused when present).
    #[arg(long, default_value = "target/lakebench")]
    work: PathBuf,
    /// Scale factors.
    #[arg(long, value_delimiter = ',', default_value = "0.1,1")]
    scales: Vec<f64>,
    /// Jobs, or workloads of several jobs (`sessionisation`), to run at each scale.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "transaction_etl,sessionisation"
    )]
    jobs: Vec<String>,
    /// Also run this pipeline as a whole at each scale (e.g. `daily`).
    #[arg(long)]
    pipeline: Option<String>,
    /// Extra arguments for every job run, e.g. `--memory-limit=1GB`.
    #[arg(long, allow_hyphen_values = true)]
    job_args: Vec<String>,
    /// Write the JSON report here as well as printing it.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write an SVG chart of wall time and of peak RSS against scale, one line per step, here.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Also run the peers (benches/peers/<job>_<peer>.py) on the same files, one after the
    /// other, and print lakejob's time and memory as a ratio of theirs.
    #[arg(long)]
    peers: bool,
    /// The Python with the peers' libraries (duckdb, polars, pyspark with a Java runtime).
    #[arg(long, env = "LAKEJOB_PYTHON", default_value = "python3")]
    python: PathBuf,
    /// The folder of the peer scripts.
    #[arg(long, default_value = "benches/peers")]
    peers_dir: PathBuf,
    /// Measure each step (and each peer) this many times, lakejob and the peers taking turns,
    /// and report the run of median wall time: one run on a shared machine moves by a fifth.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Instead of the steps: generate a lake of --days days at each scale and run the daily
    /// pipeline date by date, reporting each day's wall time and the lake's file count.
    #[arg(long, requires = "days")]
    daily: bool,
    /// Days of the lake --daily ages.
    #[arg(long)]
    days: Option<u64>,
}

/// The peers that have a script, by name.
const PEERS: [&str; 3] = ["duckdb", "polars", "spark"];

/// Work made of several jobs, run one after the other and measured as one step (wall and CPU
/// time summed, the highest peak memory), so it compares with a peer doing all of it.
const WORKLOADS: [(&str, &[&str]); 1] = [(
    "sessionisation",
    &["clickstream_events", "sessions", "traffic_windows"],
)];

/// The jobs a step runs: a workload's, or the job of that name.
fn jobs_of(step: &str) -> Vec<&str> {
    WORKLOADS
        .iter()
        .find(|(name, _)| *name == step)
        .map_or_else(|| vec![step], |(_, jobs)| jobs.to_vec())
}

/// One measured process.
#[derive(Debug, Clone, Serialize)]
struct Measurement {
    scale: f64,
    step: String,
    wall_s: f64,
    cpu_s: f64,
    peak_rss_mb: f64,
    rows: u64,
    rows_per_s: f64,
    input_mb: f64,
    input_mb_per_s: f64,
    /// How many runs the median was taken over.
    runs: u32,
}

/// Resources of a finished child, or of children run one after the other.
#[derive(Default)]
struct Usage {
    wall: Duration,
    cpu: Duration,
    peak_rss_kb: u64,
    stdout: String,
    /// The exit code of the last run.
    code: Option<i32>,
}

impl Usage {
    /// Adds a later run: times add up, memory is the highest peak.
    fn add(&mut self, later: &Usage) {
        self.wall += later.wall;
        self.cpu += later.cpu;
        self.peak_rss_kb = self.peak_rss_kb.max(later.peak_rss_kb);
    }
}

fn clock_ticks_per_second() -> f64 {
    // Linux exposes CPU times in /proc in USER_HZ, which is 100 on every supported platform.
    100.0
}

/// Peak RSS (kB) and CPU time (ticks) of a live process, from /proc.
fn sample(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((peak, ticks))
}

/// Writes earlier runs left in the page cache go to disk first, so no run pays for another's.
fn settle() {
    let _ = Command::new("sync").status();
}

/// Waits (up to a minute) until no process of the group `group` is left: a peer's engine may
/// outlive the script that started it (Spark's JVM shuts down after Python exits), and must
/// not run into the next measurement.
fn wait_for_group(group: u32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let alive = || {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .any(|entry| {
                std::fs::read_to_string(entry.path().join("stat")).is_ok_and(|stat| {
                    // Fields after the command name: state, ppid, pgrp.
                    stat.rsplit_once(')')
                        .and_then(|(_, rest)| rest.split_whitespace().nth(2))
                        .is_some_and(|pgrp| pgrp == group.to_string())
                })
            })
    };
    while alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn measure(program: &Path, args: &[String]) -> Result<Usage, String> {
    measure_accepting(program, args, &[0])
}

/// Like [`measure`], a run that exits with one of `accepted` counting as measured.
fn measure_accepting(program: &Path, args: &[String], accepted: &[i32]) -> Result<Usage, String> {
    settle();
    let started = Instant::now();
    let mut child = Command::new(program)
        .process_group(0)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let pid = child.id();
    let stdout_pipe = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = stdout_pipe {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
        }
        text
    });
    let (mut peak, mut ticks) = (0, 0);
    let status = loop {
        if let Some((p, t)) = sample(pid) {
            peak = peak.max(p);
            ticks = ticks.max(t);
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for the child: {e}")),
        }
    };
    let wall = started.elapsed();
    wait_for_group(pid);
    let stdout = reader.join().unwrap_or_default();
    if !status.code().is_some_and(|code| accepted.contains(&code)) {
        return Err(format!(
            "{} {} exited with {status}",
            program.display(),
            args.join(" ")
        ));
    }
    Ok(Usage {
        wall,
        cpu: Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second()),
        peak_rss_kb: peak,
        stdout,
        code: status.code(),
    })
}

fn folder_bytes(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        folder_bytes(&p)
                    } else {
                        e.metadata().map_or(0, |m| m.len())
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn record(scale: f64, step: &str, usage: &Usage, rows: u64, input_bytes: u64) -> Measurement {
    let wall = usage.wall.as_secs_f64();
    let input_mb = input_bytes as f64 / 1e6;
    Measurement {
        scale,
        step: step.to_string(),
        wall_s: wall,
        cpu_s: usage.cpu.as_secs_f64(),
        peak_rss_mb: usage.peak_rss_kb as f64 / 1024.0,
        rows,
        rows_per_s: rows as f64 / wall.max(1e-9),
        input_mb,
        input_mb_per_s: input_mb / wall.max(1e-9),
        runs: 1,
    }
}

/// For each step, the run of median wall time among `runs` (each a run of every step, in the
/// same order), with the number of runs.
fn medians(runs: Vec<Vec<Measurement>>) -> Vec<Measurement> {
    let count = runs.len();
    let steps = runs.first().map_or(0, Vec::len);
    (0..steps)
        .filter_map(|step| {
            let mut of_step: Vec<&Measurement> = runs.iter().filter_map(|r| r.get(step)).collect();
            of_step.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
            let mut median = of_step.get(of_step.len() / 2).copied()?.clone();
            median.runs = count as u32;
            Some(median)
        })
        .collect()
}

fn run(options: &Options) -> Result<Vec<Measurement>, String> {
    let mut results = Vec::new();
    for &scale in &options.scales {
        let lake = options.work.join(format!("scale-{scale}"));
        let lake_arg = lake.display().to_string();
        if !lake.join("raw").exists() {
            let args: Vec<String> = [
                "--lake",
                &lake_arg,
                "--output",
                "json",
                "sample",
                "generate",
                "--scale",
                &scale.to_string(),
            ]
            .map(String::from)
            .to_vec();
            let usage = measure(&options.lakejob, &args)?;
            let report: serde_json::Value =
                serde_json::from_str(&usage.stdout).map_err(|e| e.to_string())?;
            let records = report["records"]
                .as_object()
                .map_or(0, |r| r.values().filter_map(|v| v.as_u64()).sum());
            results.push(record(
                scale,
                "sample generate",
                &usage,
                records,
                report["bytes"].as_u64().unwrap_or(0),
            ));
        }
        let pipeline = options.pipeline.iter().map(|p| {
            (
                format!("pipeline {p}"),
                vec![vec!["pipeline", "run", p.as_str()]],
            )
        });
        let jobs = options.jobs.iter().map(|step| {
            let runs = jobs_of(step).into_iter().map(|j| vec!["run", j]).collect();
            (step.clone(), runs)
        });
        for (step, commands) in jobs.chain(pipeline) {
            let mut runs = Vec::new();
            for _ in 0..options.runs {
                let (ours, input) = measure_step(options, scale, &lake, &step, &commands)?;
                let mut measured = vec![ours];
                if options.peers {
                    measured.extend(run_peers(options, scale, &lake, &step, input)?);
                }
                runs.push(measured);
            }
            results.extend(medians(runs));
        }
    }
    Ok(results)
}

/// One run of a step's commands on a clean target: the benchmark measures a first load, not a
/// no-op re-run.
fn measure_step(
    options: &Options,
    scale: f64,
    lake: &Path,
    step: &str,
    commands: &[Vec<&str>],
) -> Result<(Measurement, u64), String> {
    let lake_arg = lake.display().to_string();
    for zone in ["processed", "curated", "quarantine", "_lakejob"] {
        let _ = std::fs::remove_dir_all(lake.join(zone));
    }
    let mut usage = Usage::default();
    let mut first_summary = None;
    for command in commands.iter().cloned() {
        let mut args: Vec<String> = ["--lake", lake_arg.as_str(), "--output", "json"]
            .into_iter()
            .chain(command)
            .map(String::from)
            .collect();
        args.extend(options.job_args.iter().cloned());
        let run = measure(&options.lakejob, &args)?;
        let summary: serde_json::Value =
            serde_json::from_str(&run.stdout).map_err(|e| e.to_string())?;
        usage.add(&run);
        first_summary.get_or_insert(summary);
    }
    let summary = first_summary.unwrap_or_default();
    let (rows, input) = match summary["stages"].as_array() {
        // A pipeline: rows read from raw files by its source jobs, and the whole raw zone.
        Some(stages) => (
            stages
                .iter()
                .flat_map(|s| s["jobs"].as_array().into_iter().flatten())
                .filter(|j| j["files_ingested"].as_u64().unwrap_or(0) > 0)
                .filter_map(|j| j["rows_in"].as_u64())
                .sum(),
            folder_bytes(&lake.join("raw")),
        ),
        // Jobs: the rows and raw files of the first, which reads the raw zone.
        None => (
            summary["rows_in"].as_u64().unwrap_or(0),
            folder_bytes(&lake.join("raw").join(job_source(jobs_of(step)[0]))),
        ),
    };
    Ok((record(scale, step, &usage, rows, input), input))
}

/// Runs every peer script written for `job` on the same lake, as a whole process.
fn run_peers(
    options: &Options,
    scale: f64,
    lake: &Path,
    job: &str,
    input: u64,
) -> Result<Vec<Measurement>, String> {
    let mut results = Vec::new();
    for peer in PEERS {
        let script = options.peers_dir.join(format!("{job}_{peer}.py"));
        if !script.exists() {
            continue;
        }
        let out = options.work.join(format!("peer-{peer}-{job}-{scale}"));
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let args = [&script, lake, &out].map(|p| p.display().to_string());
        let mut usage = measure(&options.python, &args)?;
        let report: serde_json::Value =
            serde_json::from_str(&usage.stdout).map_err(|e| format!("{peer}: {e}"))?;
        // A peer whose engine runs in a process the script does not wait for (Spark's JVM is
        // left to exit on its own) reports that process's own CPU time and peak RSS.
        if let (Some(cpu_s), Some(rss_mb)) = (
            report["engine_cpu_s"].as_f64(),
            report["engine_peak_rss_mb"].as_f64(),
        ) {
            usage.add(&Usage {
                wall: Duration::ZERO,
                cpu: Duration::from_secs_f64(cpu_s),
                peak_rss_kb: (rss_mb * 1024.0) as u64,
                ..Usage::default()
            });
        }
        let rows = report["rows_in"].as_u64().unwrap_or(0);
        results.push(record(
            scale,
            &format!("{peer}: {job}"),
            &usage,
            rows,
            input,
        ));
    }
    Ok(results)
}

/// lakejob against each peer on the same step: ratios of wall time and peak memory (under 1
/// means lakejob is faster or smaller).
fn comparison(results: &[Measurement]) -> String {
    let mut table = String::from(
        "| scale | step | lakejob wall s | peer | peer wall s | wall ratio | lakejob RSS MB | peer RSS MB | RSS ratio |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for peer in results.iter().filter(|m| m.step.contains(": ")) {
        let Some((name, step)) = peer.step.split_once(": ") else {
            continue;
        };
        if let Some(ours) = results
            .iter()
            .find(|m| m.scale == peer.scale && m.step == step)
        {
            table.push_str(&format!(
                "| {} | {step} | {:.2} | {name} | {:.2} | {:.2} | {:.0} | {:.0} | {:.2} |\n",
                peer.scale,
                ours.wall_s,
                peer.wall_s,
                ours.wall_s / peer.wall_s.max(1e-9),
                ours.peak_rss_mb,
                peer.peak_rss_mb,
                ours.peak_rss_mb / peer.peak_rss_mb.max(1e-9)
            ));
        }
    }
    table
}

/// The raw source a shipped job reads.
fn job_source(job: &str) -> &str {
    match job {
        "transaction_etl" => "transactions",
        "product_enrichment" => "products",
        "clickstream_events" => "clickstream",
        "reviews_etl" => "reviews",
        other => other,
    }
}

fn markdown(results: &[Measurement]) -> String {
    let mut table = String::from(
        "| scale | step | wall s | CPU s | peak RSS MB | rows | rows/s | input MB | MB/s |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for m in results {
        table.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.0} | {} | {:.0} | {:.1} | {:.1} |\n",
            m.scale,
            m.step,
            m.wall_s,
            m.cpu_s,
            m.peak_rss_mb,
            m.rows,
            m.rows_per_s,
            m.input_mb,
            m.input_mb_per_s
        ));
    }
    table
}

/// Wall time and peak RSS against scale, one panel each and one line per step, on log-log
/// axes so that linear growth is a straight line at 45 degrees whatever the scales, and flat
/// memory a flat line.
fn chart(results: &[Measurement]) -> String {
    let points: Vec<&Measurement> = results
        .iter()
        .filter(|m| m.step != "sample generate" && m.scale > 0.0 && m.wall_s > 0.0)
        .collect();
    let panels = [
        Panel {
            title: "wall time (s) against scale, log-log",
            unit: "s",
            decimals: 2,
            value: |m| m.wall_s,
        },
        Panel {
            title: "peak RSS (MB) against scale, log-log",
            unit: "MB",
            decimals: 0,
            value: |m| m.peak_rss_mb,
        },
    ];
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        Panel::WIDTH,
        Panel::HEIGHT * panels.len() as f64
    );
    for (index, panel) in panels.iter().enumerate() {
        svg.push_str(&format!(
            "<g transform=\"translate(0,{})\">\n{}</g>\n",
            Panel::HEIGHT * index as f64,
            panel.draw(&points)
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

/// One quantity against scale, in [`chart`].
struct Panel {
    title: &'static str,
    unit: &'static str,
    /// Decimals of the values written by the points.
    decimals: usize,
    value: fn(&Measurement) -> f64,
}

impl Panel {
    const WIDTH: f64 = 640.0;
    const HEIGHT: f64 = 400.0;
    const MARGIN: f64 = 60.0;
    const COLOURS: [&str; 6] = [
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
    ];

    fn draw(&self, points: &[&Measurement]) -> String {
        let (width, height, margin) = (Self::WIDTH, Self::HEIGHT, Self::MARGIN);
        let value = self.value;
        let points: Vec<&Measurement> = points.iter().copied().filter(|m| value(m) > 0.0).collect();
        let bounds = |of: &dyn Fn(&Measurement) -> f64| {
            points
                .iter()
                .map(|m| of(m).log10())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| {
                    (low.min(v), high.max(v))
                })
        };
        let ((x_low, x_high), (y_low, y_high)) = (bounds(&|m| m.scale), bounds(&value));
        let span = |low: f64, high: f64| if high > low { high - low } else { 1.0 };
        let x = |scale: f64| {
            margin + (scale.log10() - x_low) / span(x_low, x_high) * (width - 2.0 * margin)
        };
        let y = |v: f64| {
            height - margin - (v.log10() - y_low) / span(y_low, y_high) * (height - 2.0 * margin)
        };
        let mut steps: Vec<&str> = points.iter().map(|m| m.step.as_str()).collect();
        steps.sort_unstable();
        steps.dedup();
        let mut svg = format!(
            "<text x=\"{}\" y=\"20\" text-anchor=\"middle\">{}</text>\n\
             <line x1=\"{margin}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n\
             <line x1=\"{margin}\" y1=\"{margin}\" x2=\"{margin}\" y2=\"{}\" stroke=\"black\"/>\n",
            width / 2.0,
            self.title,
            height - margin,
            width - margin,
            height - margin,
            height - margin
        );
        for (index, step) in steps.iter().enumerate() {
            let colour = Self::COLOURS[index % Self::COLOURS.len()];
            let mut line: Vec<&&Measurement> = points.iter().filter(|m| m.step == *step).collect();
            line.sort_by(|a, b| a.scale.total_cmp(&b.scale));
            let path: Vec<String> = line
                .iter()
                .map(|m| format!("{:.1},{:.1}", x(m.scale), y(value(m))))
                .collect();
            svg.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>\n",
                path.join(" ")
            ));
            for m in &line {
                let (cx, cy, unit) = (x(m.scale), y(value(m)), self.unit);
                let v = format!("{:.*}", self.decimals, value(m));
                svg.push_str(&format!(
                    "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"3\" fill=\"{colour}\"><title>{} at scale {}: {v} {unit}</title></circle>\n<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">{v} {unit}</text>\n",
                    escape(step),
                    m.scale,
                    cx + 5.0,
                    cy - 5.0,
                ));
            }
            svg.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" fill=\"{colour}\">{}</text>\n",
                margin + 10.0,
                margin + 15.0 * index as f64,
                escape(step)
            ));
        }
        let mut scales: Vec<f64> = points.iter().map(|m| m.scale).collect();
        scales.sort_by(f64::total_cmp);
        scales.dedup();
        for scale in scales {
            svg.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">scale {scale}</text>\n",
                x(scale),
                height - margin + 18.0
            ));
        }
        svg
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `--daily`: the lake aged day by day at each scale, as JSON, Markdown and an SVG chart.
fn run_daily(options: &Options, days: u64) -> ExitCode {
    for &scale in &options.scales {
        let ageing = match daily::age(options, scale, days) {
            Ok(ageing) => ageing,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let json = serde_json::to_string_pretty(&ageing).unwrap_or_default();
        let written = [
            (&options.json, json.clone()),
            (&options.svg, daily::chart(&ageing)),
        ];
        for (path, text) in written {
            if let Some(path) = path
                && let Err(e) = std::fs::write(path, text)
            {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
        println!("{json}\n\n{}", daily::markdown(&ageing));
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let options = Options::parse();
    if let (true, Some(days)) = (options.daily, options.days) {
        return run_daily(&options, days);
    }
    match run(&options) {
        Ok(results) => {
            let json = serde_json::to_string_pretty(&results).unwrap_or_default();
            if let Some(path) = &options.json
                && let Err(e) = std::fs::write(path, &json)
            {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            if let Some(path) = &options.svg
                && let Err(e) = std::fs::write(path, chart(&results))
            {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            println!("{json}\n\n{}", markdown(&results));
            if options.peers {
                println!("\n{}", comparison(&results));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(step: &str, wall_s: f64) -> Measurement {
        let usage = Usage {
            wall: Duration::from_secs_f64(wall_s),
            ..Usage::default()
        };
        record(1.0, step, &usage, 10, 1_000_000)
    }

    #[test]
    fn each_step_reports_its_run_of_median_wall_time() {
        let runs = vec![
            vec![measured("lakejob", 3.0), measured("duckdb", 1.0)],
            vec![measured("lakejob", 1.0), measured("duckdb", 5.0)],
            vec![measured("lakejob", 2.0), measured("duckdb", 4.0)],
        ];
        let medians = medians(runs);
        let picked: Vec<(&str, f64, u32)> = medians
            .iter()
            .map(|m| (m.step.as_str(), m.wall_s, m.runs))
            .collect();
        assert_eq!(picked, [("lakejob", 2.0, 3), ("duckdb", 4.0, 3)]);
        // Rates come from the run picked, not from an average of runs.
        assert_eq!(medians[0].rows_per_s, 5.0);
    }
}
