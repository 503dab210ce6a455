//! The class summary of a batch: per-test statistics, and the class's
//! results on the terminal and as CSV, JSON and an HTML page.

use super::*;

/// Per-test statistics over the graded submissions.
#[derive(Debug, Serialize)]
pub struct TestStats {
    pub name: String,
    pub max_points: u64,
    pub passed: usize,
    pub graded: usize,
    pub median_seconds: Option<f64>,
    /// The most common first line of a failing test's message, with the
    /// numbers in it written `N` (a seed's values differ from one
    /// submission to the next), and how many submissions it was.
    pub common_failure: Option<(String, usize)>,
}

pub struct Summary<'a> {
    pub(super) lab: &'a str,
    pub(super) max_score: u64,
    pub(super) outcomes: &'a [Outcome],
    pub(super) tests: Vec<TestStats>,
}

/// The grader's report of a graded submission; a grader that exited
/// with a grade but left no readable report is the grader's error.
pub(super) fn read_report(path: &Path) -> Result<Report, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("the grader wrote no report {}: {e}", path.display()))?;
    Report::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `message` with every number (decimal, or hex after `0x`) written `N`,
/// so that failures that differ only in a seed's values count as one.
pub(super) fn without_numbers(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        if !c.is_ascii_digit() {
            out.push(c);
            continue;
        }
        let hex = c == '0' && chars.peek() == Some(&'x');
        if hex {
            chars.next();
        }
        while chars
            .peek()
            .is_some_and(|d| d.is_ascii_digit() || (hex && d.is_ascii_hexdigit()))
        {
            chars.next();
        }
        out.push('N');
    }
    out
}

/// The outcomes of a test that did not pass, worst first.
pub(super) const ENDINGS: [TestOutcome; 4] = [
    TestOutcome::Panic,
    TestOutcome::OutputLimit,
    TestOutcome::Timeout,
    TestOutcome::Fail,
];

/// Why a submission did not get full marks, in capitals: how it ended
/// before grading (REFUSED, BUILD FAILED …), or the outcomes of its tests
/// that did not pass (PANIC, OUTPUT LIMIT, TIMEOUT, FAIL; worst first).
/// Empty for full marks.
pub fn reason(o: &Outcome) -> String {
    match &o.status {
        Status::Refused { .. } => "REFUSED".into(),
        Status::BuildFailed { .. } => "BUILD FAILED".into(),
        Status::BuildTimeout => "BUILD TIMEOUT".into(),
        Status::GraderError { .. } => "GRADER ERROR".into(),
        Status::Graded => {
            let Some(report) = &o.report else {
                return "BUILT (not graded)".into();
            };
            let found: Vec<&str> = ENDINGS
                .iter()
                .filter(|&&ending| report.leaves().any(|t| t.outcome == ending))
                .map(|ending| ending.label())
                .collect();
            found.join(", ")
        }
    }
}

/// One line on what stopped a submission before grading.
pub(super) fn detail(o: &Outcome) -> String {
    match &o.status {
        Status::Graded => String::new(),
        Status::Refused { reason } => reason.clone(),
        Status::BuildFailed { excerpt } => excerpt.lines().next().unwrap_or("").to_owned(),
        Status::BuildTimeout => "the build did not finish in time (--build-timeout)".into(),
        Status::GraderError { message } => message.clone(),
    }
}

/// A submission's files, as (label, path), those that exist: the text
/// report, the JSON report, the build log, and each run's console log.
pub(super) fn files(o: &Outcome) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = [
        ("report", "grade.txt"),
        ("report.json", "report.json"),
        ("build log", "build.log"),
    ]
    .into_iter()
    .map(|(label, file)| (label.to_owned(), o.out.join(file)))
    .filter(|(_, path)| path.is_file())
    .collect();
    // The grader's logs: <out>/grade/<lab>/<run>.log, <lab> the link to the
    // grader's own directory under runs/.
    let grade = o.out.join("grade");
    let mut logs = Vec::new();
    for lab in std::fs::read_dir(&grade).into_iter().flatten().flatten() {
        if lab.file_name() == "runs" {
            continue;
        }
        for log in std::fs::read_dir(lab.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = log.path();
            if path.extension().is_some_and(|e| e == "log") {
                logs.push((log.file_name().to_string_lossy().into_owned(), path));
            }
        }
    }
    logs.sort();
    out.extend(logs);
    out
}

/// `to` as a path relative to the directory `from` (both made absolute
/// against the current directory first).
pub(super) fn relative(from: &Path, to: &Path) -> PathBuf {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (from, to) = (absolute(from), absolute(to));
    let (f, t): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    out.extend(&t[common..]);
    out
}

/// A relative path as a URL path: each byte outside the characters URLs
/// leave alone is percent-encoded (a submission may be named `a#1 b`).
pub(super) fn href(path: &Path) -> String {
    let mut out = String::new();
    for (i, part) in path.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        for &b in part.as_encoded_bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

impl<'a> Summary<'a> {
    pub fn new(lab: &'a str, max_score: u64, outcomes: &'a [Outcome]) -> Summary<'a> {
        let mut tests: Vec<TestStats> = Vec::new();
        let mut times: Vec<Vec<f64>> = Vec::new();
        let mut failures: Vec<Vec<String>> = Vec::new();
        for report in outcomes.iter().filter_map(|o| o.report.as_ref()) {
            for t in report.leaves() {
                let i = match tests.iter().position(|s| s.name == t.name) {
                    Some(i) => i,
                    None => {
                        tests.push(TestStats {
                            name: t.name.clone(),
                            max_points: u64::from(t.max_points),
                            passed: 0,
                            graded: 0,
                            median_seconds: None,
                            common_failure: None,
                        });
                        times.push(Vec::new());
                        failures.push(Vec::new());
                        tests.len() - 1
                    }
                };
                tests[i].graded += 1;
                if t.outcome == TestOutcome::Pass {
                    tests[i].passed += 1;
                } else {
                    let first = t.context.first().map_or_else(
                        || t.outcome.label().to_owned(),
                        |line| without_numbers(line),
                    );
                    failures[i].push(first);
                }
                if let Some(s) = t.seconds {
                    times[i].push(s);
                }
            }
        }
        for (i, t) in tests.iter_mut().enumerate() {
            times[i].sort_by(f64::total_cmp);
            t.median_seconds = times[i].get(times[i].len() / 2).copied();
            let mut counts: Vec<(String, usize)> = Vec::new();
            for f in &failures[i] {
                match counts.iter_mut().find(|(m, _)| m == f) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((f.clone(), 1)),
                }
            }
            // The first of the most frequent: ties go to the earliest seen.
            t.common_failure = counts.into_iter().rev().max_by_key(|(_, n)| *n);
        }
        Summary {
            lab,
            max_score,
            outcomes,
            tests,
        }
    }

    fn status_word(o: &Outcome) -> &'static str {
        match o.status {
            Status::Graded => "graded",
            Status::Refused { .. } => "refused",
            Status::BuildFailed { .. } => "build failed",
            Status::BuildTimeout => "build timeout",
            Status::GraderError { .. } => "grader error",
        }
    }

    /// The terminal's table: a row per submission (its score, and what
    /// kept it from full marks), then a row per test.
    pub fn table(&self) -> String {
        let mut s = format!("\n{} ({} points)\n", self.lab, self.max_score);
        let width = self
            .outcomes
            .iter()
            .map(|o| o.name.len())
            .max()
            .unwrap_or(4)
            .max(10);
        s += &format!(
            "{:<width$}  {:>9}  {:>7}  {}\n",
            "submission", "score", "seconds", "result"
        );
        for o in self.outcomes {
            let mut result = reason(o);
            if result.is_empty() {
                result = "OK".into();
            }
            let why = detail(o);
            if !why.is_empty() {
                let why: String = why.chars().take(70).collect();
                result = format!("{result}: {why}");
            }
            s += &format!(
                "{:<width$}  {:>9}  {:>7.1}  {result}\n",
                o.name,
                format!("{}/{}", o.score, o.max_score),
                o.seconds
            );
        }
        s += "\ntest                                       passed  median s  most common failure\n";
        for t in &self.tests {
            s += &format!(
                "{:<42} {:>4}/{:<4} {:>8}  {}\n",
                t.name,
                t.passed,
                t.graded,
                t.median_seconds.map_or("-".into(), |x| format!("{x:.1}")),
                t.common_failure
                    .as_ref()
                    .map_or(String::new(), |(m, n)| format!("{m} ({n})"))
            );
        }
        if let Some(dir) = self
            .outcomes
            .first()
            .and_then(|o| o.out.parent())
            .filter(|d| !d.as_os_str().is_empty())
        {
            s += &format!(
                "\neach submission's report and console logs: {}/<submission>/\n",
                dir.display()
            );
        }
        s
    }

    /// One row per submission: its score, status, reason, where its report
    /// and logs are, and each test's points.
    pub fn csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header: Vec<String> = [
            "submission",
            "score",
            "max_score",
            "status",
            "seconds",
            "reason",
            "detail",
            "report",
            "logs",
        ]
        .map(String::from)
        .to_vec();
        header.extend(self.tests.iter().map(|t| t.name.clone()));
        w.write_record(&header).expect("writing to memory");
        for o in self.outcomes {
            let files = files(o);
            let report = files
                .iter()
                .find(|(l, _)| l == "report")
                .map(|(_, p)| p.display().to_string())
                .unwrap_or_default();
            let logs: Vec<String> = files
                .iter()
                .filter(|(l, _)| l.ends_with(".log") || l == "build log")
                .map(|(_, p)| p.display().to_string())
                .collect();
            let mut row = vec![
                o.name.clone(),
                o.score.to_string(),
                o.max_score.to_string(),
                Self::status_word(o).to_owned(),
                format!("{:.1}", o.seconds),
                reason(o),
                detail(o),
                report,
                logs.join(" "),
            ];
            let got: Vec<&TestReport> = o.report.iter().flat_map(Report::leaves).collect();
            for t in &self.tests {
                let points = got
                    .iter()
                    .find(|l| l.name == t.name)
                    .map_or(0, |l| l.points);
                row.push(points.to_string());
            }
            w.write_record(&row).expect("writing to memory");
        }
        String::from_utf8(w.into_inner().expect("writing to memory")).expect("the rows are UTF-8")
    }

    pub fn json(&self) -> String {
        let submissions: Vec<Value> = self
            .outcomes
            .iter()
            .map(|o| {
                let mut v = serde_json::to_value(o).expect("outcomes serialise");
                let files = files(o);
                let path = |label: &str| {
                    files
                        .iter()
                        .find(|(l, _)| l == label)
                        .map(|(_, p)| p.display().to_string())
                };
                let logs: Vec<String> = files
                    .iter()
                    .filter(|(l, _)| l.ends_with(".log"))
                    .map(|(_, p)| p.display().to_string())
                    .collect();
                v["reason"] = reason(o).into();
                v["detail"] = detail(o).into();
                v["files"] = serde_json::json!({
                    "report": path("report"),
                    "report_json": path("report.json"),
                    "build_log": path("build log"),
                    "logs": logs,
                });
                v
            })
            .collect();
        let value = serde_json::json!({
            "lab": self.lab,
            "max_score": self.max_score,
            "submissions": submissions,
            "tests": self.tests,
        });
        serde_json::to_string_pretty(&value).expect("summaries serialise") + "\n"
    }

    /// A page an instructor opens from disk: no server, no scripts; links
    /// relative to `dir`, the directory the page is written in.
    pub fn html(&self, dir: &Path) -> String {
        use maud::{DOCTYPE, PreEscaped, html};
        const STYLE: &str = "body{font-family:sans-serif;margin:2em}\
            table{border-collapse:collapse;margin-bottom:2em}\
            td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}td.n{text-align:right}\
            tr.bad td{background:#fee}.bar{background:#8c8;height:1em;display:inline-block}";
        let graded: Vec<u64> = self
            .outcomes
            .iter()
            .filter(|o| o.status == Status::Graded)
            .map(|o| o.score)
            .collect();
        let median = {
            let mut s = graded.clone();
            s.sort();
            s.get(s.len() / 2).copied()
        };
        let full = graded.iter().filter(|&&s| s == self.max_score).count();
        let page = html! {
            (DOCTYPE)
            html {
                head {
                    meta charset="utf-8";
                    title { (self.lab) " grades" }
                    style { (PreEscaped(STYLE)) }
                }
                body {
                    h1 { (self.lab) ": " (self.outcomes.len()) " submission(s), " (self.max_score) " points" }
                    @if let Some(median) = median {
                        p {
                            "Median score " (median) " of " (self.max_score) "; " (full)
                            " at full marks; " (self.outcomes.len() - graded.len()) " not graded."
                        }
                    }
                    h2 { "Submissions" }
                    table {
                        tr {
                            th { "submission" } th { "score" } th { "result" } th { "seconds" }
                            th { "details" } th { "report and logs" }
                        }
                        @for o in self.outcomes {
                            tr class=[(o.score < o.max_score).then_some("bad")] {
                                td { (o.name) }
                                td.n { (o.score) "/" (o.max_score) }
                                td { @match reason(o).as_str() { "" => "OK", r => (r) } }
                                td.n { (format!("{:.1}", o.seconds)) }
                                td { (detail(o)) }
                                td {
                                    @for (label, path) in files(o) {
                                        a href=(href(&relative(dir, &path))) { (label) } " "
                                    }
                                }
                            }
                        }
                    }
                    h2 { "Tests" }
                    table {
                        tr {
                            th { "test" } th { "points" } th { "pass rate" } th { "median seconds" }
                            th { "most common failure" }
                        }
                        @for t in &self.tests {
                            tr {
                                td { (t.name) }
                                td.n { (t.max_points) }
                                td {
                                    span.bar style=(format!("width:{:.0}px", pass_rate(t) * 100.0)) {}
                                    " " (t.passed) "/" (t.graded)
                                }
                                td.n { (t.median_seconds.map_or("-".into(), |x| format!("{x:.1}"))) }
                                td {
                                    @if let Some((m, n)) = &t.common_failure {
                                        (m) " (" (n) ")"
                                    }
                                }
                            }
                        }
                    }
                }
            }
        };
        page.into_string() + "\n"
    }
}

/// The directory an HTML page at `page` is in (its links are relative to it).
pub(super) fn html_dir(page: Option<&Path>) -> &Path {
    match page.and_then(Path::parent) {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

pub(super) fn pass_rate(t: &TestStats) -> f64 {
    if t.graded == 0 {
        0.0
    } else {
        t.passed as f64 / t.graded as f64
    }
}
