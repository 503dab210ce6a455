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

    /// A page an instructor opens from disk: no server, nothing loaded
    /// from anywhere (its own policy forbids it), links relative to `dir`,
    /// the directory the page is written in. Tables sort by a click on a
    /// column's head (or `#sort=<table>.<column>[.desc]` in the address),
    /// and two pictures, drawn in the page: the scores' histogram and each
    /// test's pass rate.
    pub fn html(&self, dir: &Path) -> String {
        use maud::{DOCTYPE, PreEscaped, html};
        const STYLE: &str = "body{font-family:sans-serif;margin:2em}\
            table{border-collapse:collapse;margin-bottom:2em}\
            td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}td.n{text-align:right}\
            th{cursor:pointer;background:#f4f4f4}th[aria-sort=ascending]::after{content:' \\25B2'}\
            th[aria-sort=descending]::after{content:' \\25BC'}\
            tr.bad td{background:#fee}.bar{background:#8c8;height:1em;display:inline-block}\
            svg{display:block;margin-bottom:1em}svg text{font-size:11px;font-family:sans-serif}";
        // Only what is in the page: its own style and script.
        const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
            script-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'";
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
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta http-equiv="Content-Security-Policy" content=(POLICY);
                    title { (shown(self.lab)) " grades" }
                    style { (PreEscaped(STYLE)) }
                }
                body {
                    h1 { (shown(self.lab)) ": " (self.outcomes.len()) " submission(s), " (self.max_score) " points" }
                    @if let Some(median) = median {
                        p {
                            "Median score " (median) " of " (self.max_score) "; " (full)
                            " at full marks; " (self.outcomes.len() - graded.len()) " not graded."
                        }
                    }
                    (self.histogram(&graded))
                    h2 { "Submissions" }
                    table #submissions .sortable {
                        thead {
                            tr {
                                th { "submission" } th { "score" } th { "result" } th { "seconds" }
                                th { "details" } th { "report and logs" }
                            }
                        }
                        tbody {
                            @for o in self.outcomes {
                                tr class=[(o.score < o.max_score).then_some("bad")] {
                                    td { (shown(&o.name)) }
                                    td.n data-sort=(o.score) { (o.score) "/" (o.max_score) }
                                    td { @match reason(o).as_str() { "" => "OK", r => (r) } }
                                    td.n { (format!("{:.1}", o.seconds)) }
                                    td { (shown(&detail(o))) }
                                    td {
                                        @for (label, path) in files(o) {
                                            a href=(href(&relative(dir, &path))) { (shown(&label)) } " "
                                        }
                                    }
                                }
                            }
                        }
                    }
                    h2 { "Tests" }
                    (self.pass_rates())
                    table #tests .sortable {
                        thead {
                            tr {
                                th { "test" } th { "points" } th { "pass rate" } th { "median seconds" }
                                th { "most common failure" }
                            }
                        }
                        tbody {
                            @for t in &self.tests {
                                tr {
                                    td { (shown(&t.name)) }
                                    td.n { (t.max_points) }
                                    td data-sort=(format!("{:.4}", pass_rate(t))) {
                                        span.bar style=(format!("width:{:.0}px", pass_rate(t) * 100.0)) {}
                                        " " (t.passed) "/" (t.graded)
                                    }
                                    td.n { (t.median_seconds.map_or("-".into(), |x| format!("{x:.1}"))) }
                                    td {
                                        @if let Some((m, n)) = &t.common_failure {
                                            (shown(m)) " (" (n) ")"
                                        }
                                    }
                                }
                            }
                        }
                    }
                    script { (PreEscaped(SORT_SCRIPT)) }
                }
            }
        };
        page.into_string() + "\n"
    }

    /// The graded submissions' scores in bins ([`score_bins`]), as bars.
    fn histogram(&self, graded: &[u64]) -> maud::Markup {
        use maud::html;
        let bins = score_bins(self.max_score, graded);
        let most = bins.iter().map(|b| b.2).max().unwrap_or(0).max(1);
        let (width, height, bar) = (40 * bins.len() as u64 + 20, 140u64, 36u64);
        html! {
            h2 { "Scores" }
            svg #histogram width=(width) height=(height) role="img"
                aria-label=(format!("histogram of {} graded scores", graded.len())) {
                @for (i, (low, high, count)) in bins.iter().enumerate() {
                    @let h = count * 100 / most;
                    @let x = 10 + 40 * i as u64;
                    rect x=(x) y=(110 - h) width=(bar) height=(h) fill="#6a6" {
                        title { (count) " scored " (low) "–" (high) }
                    }
                    text x=(x + bar / 2) y=(105 - h) text-anchor="middle" { (count) }
                    text x=(x + bar / 2) y="125" text-anchor="middle" {
                        @if low == high { (low) } @else { (low) "–" (high) }
                    }
                }
            }
        }
    }

    /// Each test's share of passes, as bars.
    fn pass_rates(&self) -> maud::Markup {
        use maud::html;
        let height = 20 * self.tests.len() as u64 + 10;
        html! {
            svg #passrates width="620" height=(height) role="img" aria-label="pass rate of each test" {
                @for (i, t) in self.tests.iter().enumerate() {
                    @let y = 5 + 20 * i as u64;
                    @let w = (pass_rate(t) * 300.0).round() as u64;
                    text x="250" y=(y + 12) text-anchor="end" { (shown(&t.name)) }
                    rect x="260" y=(y) width="300" height="14" fill="#eee" {}
                    rect x="260" y=(y) width=(w) height="14" fill="#6a6" {
                        title { (t.passed) " of " (t.graded) " passed " (shown(&t.name)) }
                    }
                    text x="565" y=(y + 12) { (format!("{:.0}%", pass_rate(t) * 100.0)) }
                }
            }
        }
    }
}

/// The page's only script: sorts a table by the column whose head is
/// clicked (numbers as numbers, a cell's `data-sort` first), and once by
/// the address's `#sort=<table id>.<column>[.desc]`; then marks the body
/// ready (`data-ready`), and any error it meets (`data-error`).
const SORT_SCRIPT: &str = r#"(function () {
  window.addEventListener('error', function (e) {
    document.body.setAttribute('data-error', String(e.message));
  });
  function key(cell) {
    var text = cell.hasAttribute('data-sort') ? cell.getAttribute('data-sort') : cell.textContent.trim();
    var n = Number(text);
    return text !== '' && !isNaN(n) ? n : text.toLowerCase();
  }
  function order(a, b) {
    if (typeof a === typeof b) { return a < b ? -1 : a > b ? 1 : 0; }
    return typeof a === 'number' ? -1 : 1;
  }
  function sort(table, column, descending) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var c = order(key(a.cells[column]), key(b.cells[column]));
      return descending ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.setAttribute('aria-sort', i === column ? (descending ? 'descending' : 'ascending') : 'none');
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.addEventListener('click', function () {
        sort(table, i, th.getAttribute('aria-sort') === 'ascending');
      });
    });
  });
  var m = /^#sort=([a-z]+)\.(\d+)(\.desc)?$/.exec(window.location.hash);
  var table = m && document.getElementById(m[1]);
  if (table && table.tHead && Number(m[2]) < table.tHead.rows[0].cells.length) {
    sort(table, Number(m[2]), !!m[3]);
  }
  document.body.setAttribute('data-ready', '1');
})();"#;

/// Bins of the scores 0..=max, each (lowest, highest, count): a score each
/// up to 12 of them, else at most ten.
pub(super) fn score_bins(max: u64, scores: &[u64]) -> Vec<(u64, u64, usize)> {
    let width = match max + 1 {
        0..=12 => 1,
        n => n.div_ceil(10),
    };
    let mut bins: Vec<(u64, u64, usize)> = (0..=max)
        .step_by(width as usize)
        .map(|low| (low, (low + width - 1).min(max), 0))
        .collect();
    for &s in scores {
        let i = ((s.min(max)) / width) as usize;
        bins[i].2 += 1;
    }
    bins
}

/// Text from a submission as it can be shown: control characters (which
/// HTML cannot hold, and a terminal would obey) as their visible pictures.
pub(super) fn shown(text: &str) -> String {
    text.chars()
        .map(|c| match c as u32 {
            0x00..=0x1f if c != '\n' && c != '\t' => {
                char::from_u32(0x2400 + c as u32).unwrap_or('?')
            }
            0x7f => '\u{2421}',
            0x80..=0x9f => '\u{fffd}',
            _ => c,
        })
        .collect()
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
