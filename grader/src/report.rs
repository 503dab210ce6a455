//! Results and their formats: gradelib-style text for people, and JSON,
//! JUnit XML and Gradescope's `results.json` for machines.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use serde::{Deserialize, Serialize};

use crate::spec::Visibility;

/// How a test ended. A run cut short by a timeout, a panic or a flood of
/// output gives its tests that outcome, unless what they check had
/// already appeared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    Timeout,
    Panic,
    OutputLimit,
    /// Not scored: a test it `requires` did not pass.
    Skipped,
    /// Not run: its host run needs more cores than the machine has.
    NeedsCores,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pass => "OK",
            Outcome::Fail => "FAIL",
            Outcome::Timeout => "TIMEOUT",
            Outcome::Panic => "PANIC",
            Outcome::OutputLimit => "OUTPUT LIMIT",
            Outcome::Skipped => "SKIPPED",
            Outcome::NeedsCores => "NEEDS CORES",
        }
    }

    fn style(self) -> Style {
        let colour = match self {
            Outcome::Pass => AnsiColor::Green,
            Outcome::Fail | Outcome::Panic => AnsiColor::Red,
            Outcome::Timeout | Outcome::OutputLimit | Outcome::Skipped | Outcome::NeedsCores => {
                AnsiColor::Yellow
            }
        };
        Style::new().fg_color(Some(colour.into())).bold()
    }
}

/// One scored test; a parent's points and outcome come from its parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestReport {
    pub name: String,
    pub points: u32,
    pub max_points: u32,
    pub outcome: Outcome,
    /// How long its run took (parts: see their parent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    pub visibility: Visibility,
    /// Why it did not pass: what was missing or unexpected, console lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<String>,
    /// The console log of its run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// The command that grades it again, with the same random values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<TestReport>,
}

impl TestReport {
    /// The scored leaves: the test itself, or its parts.
    pub fn leaves(&self) -> Vec<&TestReport> {
        if self.parts.is_empty() {
            vec![self]
        } else {
            self.parts.iter().collect()
        }
    }
}

/// One lab's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabReport {
    pub lab: String,
    pub score: u32,
    pub max_score: u32,
    /// The seed its random values were drawn from.
    pub seed: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub random: BTreeMap<String, i64>,
    /// The command that grades the lab again with the same random values.
    pub replay: String,
    pub tests: Vec<TestReport>,
}

impl LabReport {
    pub fn new(lab: String, seed: u64, random: BTreeMap<String, i64>, replay: String) -> Self {
        LabReport {
            lab,
            score: 0,
            max_score: 0,
            seed,
            random,
            replay,
            tests: Vec::new(),
        }
    }

    pub fn push(&mut self, test: TestReport) {
        self.score += test.points;
        self.max_score += test.max_points;
        self.tests.push(test);
    }
}

/// The grader's JSON report (`--json`): every lab graded, with totals.
/// `cargo xtask grade --submissions` reads it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub score: u32,
    pub max_score: u32,
    /// The seed of the first lab (all labs of one grade share it).
    pub seed: Option<u64>,
    pub labs: Vec<LabReport>,
}

impl Report {
    pub fn new(labs: &[LabReport]) -> Report {
        let (score, max_score) = totals(labs);
        Report {
            score,
            max_score,
            seed: labs.first().map(|l| l.seed),
            labs: labs.to_vec(),
        }
    }

    /// Every scored test (parts, not their parents) of every lab.
    pub fn leaves(&self) -> impl Iterator<Item = &TestReport> {
        self.labs
            .iter()
            .flat_map(|l| &l.tests)
            .flat_map(TestReport::leaves)
    }

    /// Reads a report the grader wrote.
    pub fn parse(text: &str) -> Result<Report, String> {
        serde_json::from_str(text).map_err(|e| format!("not a grader report: {e}"))
    }
}

// ---- text ----

/// The line before a lab's tests: its name when several labs are graded,
/// and its random parameters with the seed that repeats them.
pub fn write_lab_header(out: &mut dyn Write, lab: &LabReport, named: bool) -> io::Result<()> {
    if named {
        writeln!(
            out,
            "{}=== {} ==={}",
            BOLD.render(),
            lab.lab,
            BOLD.render_reset()
        )?;
    }
    if !lab.random.is_empty() {
        let values: Vec<String> = lab.random.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(
            out,
            "random: {} (seed {seed}; `--seed {seed}` repeats them)",
            values.join(" "),
            seed = lab.seed
        )?;
    }
    Ok(())
}

const BOLD: Style = Style::new().bold();

/// `== Test <name> == <name>: OK (1.2s)`, and on failure the context
/// indented below; a parent's line, then one per part.
pub fn write_test(out: &mut dyn Write, test: &TestReport) -> io::Result<()> {
    if test.parts.is_empty() {
        return write_leaf(out, test, "");
    }
    writeln!(out, "== Test {} =={}", test.name, seconds(test.seconds))?;
    for part in &test.parts {
        write_leaf(out, part, "  ")?;
    }
    Ok(())
}

fn write_leaf(out: &mut dyn Write, test: &TestReport, indent: &str) -> io::Result<()> {
    let style = test.outcome.style();
    writeln!(
        out,
        "== Test {indent}{name} == {name}: {}{}{}{}",
        style.render(),
        test.outcome.label(),
        style.render_reset(),
        seconds(test.seconds),
        name = test.name,
    )?;
    if test.outcome != Outcome::Pass {
        for line in &test.context {
            writeln!(out, "    {line}")?;
        }
        if let Some(log) = &test.log {
            writeln!(out, "    console log: {log}")?;
        }
        if let Some(replay) = &test.replay {
            writeln!(out, "    replay: {replay}")?;
        }
    }
    Ok(())
}

/// One line per scored test, for a result shown before its turn in the
/// report: `lab-cow: simple: OK (1.2s) (details in the report)`.
pub fn write_early(out: &mut dyn Write, lab: &str, test: &TestReport) -> io::Result<()> {
    for leaf in test.leaves() {
        let style = leaf.outcome.style();
        writeln!(
            out,
            "{lab}: {}: {}{}{}{}{}",
            leaf.name,
            style.render(),
            leaf.outcome.label(),
            style.render_reset(),
            seconds(leaf.seconds.or(test.seconds)),
            if leaf.outcome == Outcome::Pass {
                ""
            } else {
                " (details in the report)"
            }
        )?;
    }
    Ok(())
}

/// gradelib shows a time only when it is worth a glance.
fn seconds(s: Option<f64>) -> String {
    match s {
        Some(s) if s >= 0.1 => format!(" ({s:.1}s)"),
        _ => String::new(),
    }
}

pub fn write_score(out: &mut dyn Write, lab: &LabReport) -> io::Result<()> {
    writeln!(
        out,
        "{}Score: {}/{}{}",
        BOLD.render(),
        lab.score,
        lab.max_score,
        BOLD.render_reset()
    )
}

/// `Total: N/M` over several labs.
pub fn write_total(out: &mut dyn Write, labs: &[LabReport]) -> io::Result<()> {
    let (score, max) = totals(labs);
    writeln!(
        out,
        "{}Total: {score}/{max}{}",
        BOLD.render(),
        BOLD.render_reset()
    )
}

pub fn totals(labs: &[LabReport]) -> (u32, u32) {
    labs.iter()
        .fold((0, 0), |(s, m), l| (s + l.score, m + l.max_score))
}

// ---- machine formats ----

/// `{"score", "max_score", "labs": [...]}` with every test and its context.
pub fn json(labs: &[LabReport]) -> String {
    pretty(&Report::new(labs))
}

/// Pretty JSON with its keys sorted (through a `Value`, whose maps are
/// sorted): the layout reports have always had, so that two diff line by
/// line.
fn pretty(data: &impl Serialize) -> String {
    let value = serde_json::to_value(data).expect("reports serialise");
    serde_json::to_string_pretty(&value).expect("reports serialise") + "\n"
}

/// Gradescope's `results.json` (its "autograder specifications"): the
/// fields this grader fills.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gradescope {
    pub score: u32,
    /// Whole seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_time: Option<u64>,
    /// Shown above the tests.
    pub output: String,
    pub tests: Vec<GradescopeTest>,
}

/// One test as Gradescope shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradescopeTest {
    pub name: String,
    pub score: u32,
    pub max_score: u32,
    pub status: GradescopeStatus,
    pub visibility: Visibility,
    pub output: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GradescopeStatus {
    Passed,
    Failed,
}

impl Gradescope {
    /// A zero, with why: for a submission that was not graded (refused,
    /// not built).
    pub fn not_graded(why: String) -> Gradescope {
        Gradescope {
            score: 0,
            execution_time: None,
            output: why,
            tests: Vec::new(),
        }
    }

    pub fn to_json(&self) -> String {
        pretty(self)
    }
}

/// Gradescope's `results.json`: one entry per scored test (parts flattened),
/// with its visibility; names carry the lab when several are graded.
pub fn gradescope(labs: &[LabReport], execution_seconds: f64) -> Gradescope {
    let (score, _) = totals(labs);
    let named = labs.len() > 1;
    let mut tests = Vec::new();
    let mut summary = Vec::new();
    for lab in labs {
        summary.push(format!("{}: {}/{}", lab.lab, lab.score, lab.max_score));
        summary.push(format!(
            "  seed {}; grade it again: {}",
            lab.seed, lab.replay
        ));
        for leaf in lab.tests.iter().flat_map(TestReport::leaves) {
            let name = if named {
                format!("{}: {}", lab.lab, leaf.name)
            } else {
                leaf.name.clone()
            };
            tests.push(GradescopeTest {
                name,
                score: leaf.points,
                max_score: leaf.max_points,
                status: if leaf.outcome == Outcome::Pass {
                    GradescopeStatus::Passed
                } else {
                    GradescopeStatus::Failed
                },
                visibility: leaf.visibility,
                output: leaf_output(leaf),
            });
        }
    }
    Gradescope {
        score,
        execution_time: Some(execution_seconds.round() as u64),
        output: summary.join("\n"),
        tests,
    }
}

fn leaf_output(test: &TestReport) -> String {
    let mut out = test.outcome.label().to_owned();
    for line in &test.context {
        let _ = write!(out, "\n{line}");
    }
    if let Some(replay) = &test.replay {
        let _ = write!(out, "\nreplay: {replay}");
    }
    out
}

/// JUnit XML: a suite per lab, a case per scored test. FAIL, TIMEOUT,
/// PANIC and OUTPUT LIMIT are failures whose type is the outcome, with the
/// context, console log and replay line as their text; SKIPPED is skipped.
pub fn junit(labs: &[LabReport]) -> String {
    use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
    let mut report = quick_junit::Report::new("grader");
    for lab in labs {
        let mut suite = TestSuite::new(&lab.lab);
        suite.add_properties([
            Property::new("score", lab.score.to_string()),
            Property::new("max_score", lab.max_score.to_string()),
            Property::new("seed", lab.seed.to_string()),
            Property::new("replay", &lab.replay),
        ]);
        for t in lab.tests.iter().flat_map(TestReport::leaves) {
            let status = match t.outcome {
                Outcome::Pass => TestCaseStatus::success(),
                Outcome::Skipped => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(t.context.join("\n"));
                    s
                }
                outcome => {
                    let mut body = t.context.join("\n");
                    if let Some(log) = &t.log {
                        let _ = write!(body, "\nconsole log: {log}");
                    }
                    if let Some(replay) = &t.replay {
                        let _ = write!(body, "\nreplay: {replay}");
                    }
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_type(outcome.label())
                        .set_message(format!(
                            "{}: {} of {} points",
                            outcome.label(),
                            t.points,
                            t.max_points
                        ))
                        .set_description(body);
                    s
                }
            };
            let mut case = TestCase::new(&t.name, status);
            case.set_classname(&lab.lab)
                .set_time(Duration::from_secs_f64(t.seconds.unwrap_or(0.0)));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string().expect("reports serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole text report at once (the grader streams the same pieces).
    fn text(labs: &[LabReport]) -> String {
        let mut out = Vec::new();
        write_text(&mut out, labs).expect("writing to memory cannot fail");
        String::from_utf8(out).expect("the report is UTF-8")
    }

    fn write_text(out: &mut dyn Write, labs: &[LabReport]) -> io::Result<()> {
        for lab in labs {
            write_lab_header(out, lab, labs.len() > 1)?;
            for test in &lab.tests {
                write_test(out, test)?;
            }
            write_score(out, lab)?;
        }
        if labs.len() > 1 {
            write_total(out, labs)?;
        }
        Ok(())
    }

    fn leaf(name: &str, points: u32, max: u32, outcome: Outcome) -> TestReport {
        let failed = outcome != Outcome::Pass;
        TestReport {
            name: name.to_owned(),
            points,
            max_points: max,
            outcome,
            seconds: Some(1.25),
            visibility: Visibility::Visible,
            context: if failed {
                vec![
                    "missing a line matching /^hello$/".to_owned(),
                    "console:".to_owned(),
                    "     4 | $ echo hello | cat".to_owned(),
                    "     5 | <hel\u{7}lo & bye>".to_owned(),
                ]
            } else {
                Vec::new()
            },
            log: failed.then(|| "target/grade/base/shell.log".to_owned()),
            replay: failed.then(|| format!("cargo xtask grade LAB --seed 17 '{name}'")),
            parts: Vec::new(),
        }
    }

    /// A lab with a pass, a fail, a timeout, a panic, a hidden test and a
    /// parent whose parts score separately.
    fn sample() -> Vec<LabReport> {
        let mut base = LabReport::new(
            "base".to_owned(),
            17,
            BTreeMap::new(),
            "cargo xtask grade base --seed 17".to_owned(),
        );
        base.push(leaf("boot", 5, 5, Outcome::Pass));
        base.push(leaf("echo", 0, 5, Outcome::Fail));
        let mut hidden = leaf("hidden stress", 10, 10, Outcome::Pass);
        hidden.visibility = Visibility::AfterDueDate;
        hidden.seconds = Some(0.05);
        base.push(hidden);
        let mut parent = leaf("usertests", 5, 10, Outcome::Timeout);
        parent.context.clear();
        parent.log = None;
        parent.replay = None;
        parent.seconds = Some(300.4);
        let mut copyin = leaf("usertests: copyin", 5, 5, Outcome::Pass);
        copyin.seconds = None;
        let mut bigdir = leaf("usertests: bigdir", 0, 5, Outcome::Timeout);
        bigdir.seconds = None;
        bigdir.context = vec![
            "TIMEOUT after 300.0s waiting for the prompt after `usertests -q` (command 1 of 1)"
                .to_owned(),
        ];
        parent.parts = vec![copyin, bigdir];
        base.push(parent);
        let random = BTreeMap::from([("n".to_owned(), 4242)]);
        let mut util = LabReport::new(
            "lab-util".to_owned(),
            17,
            random,
            "cargo xtask grade lab-util --seed 17".to_owned(),
        );
        util.push(leaf("primes", 0, 20, Outcome::Panic));
        let mut flood = leaf("flood", 0, 5, Outcome::OutputLimit);
        flood.context =
            vec!["the console passed 4194304 bytes (4194400 printed): stopped".to_owned()];
        util.push(flood);
        let mut labs = vec![base, util];
        for lab in &mut labs {
            let name = lab.lab.clone();
            let fix =
                |t: &mut TestReport| t.replay = t.replay.take().map(|r| r.replace("LAB", &name));
            for test in &mut lab.tests {
                fix(test);
                test.parts.iter_mut().for_each(fix);
            }
        }
        labs
    }

    #[test]
    fn text_report() {
        let labs = sample();
        assert_eq!((labs[0].score, labs[0].max_score), (20, 30));
        insta::assert_snapshot!(anstream::adapter::strip_str(&text(&labs)).to_string());
    }

    #[test]
    fn text_report_is_coloured_before_stripping() {
        let labs = sample();
        let t = text(&labs[..1]);
        assert!(t.contains("\u{1b}[1m\u{1b}[32mOK\u{1b}[0m"), "{t:?}");
        // One lab: no lab heading, no total.
        assert!(!t.contains("=== base") && !t.contains("Total"));
    }

    #[test]
    fn json_report() {
        insta::assert_snapshot!(json(&sample()));
    }

    #[test]
    fn the_json_report_reads_back_as_written() {
        let labs = sample();
        let back = Report::parse(&json(&labs)).unwrap();
        assert_eq!(back, Report::new(&labs));
        assert_eq!((back.score, back.max_score, back.seed), (20, 55, Some(17)));
        let names: Vec<&str> = back.leaves().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "boot",
                "echo",
                "hidden stress",
                "usertests: copyin",
                "usertests: bigdir",
                "primes",
                "flood"
            ]
        );
        let err = Report::parse("{\"score\": 1}").unwrap_err();
        assert!(
            err.starts_with("not a grader report: missing field"),
            "{err}"
        );
    }

    #[test]
    fn junit_report() {
        insta::assert_snapshot!(junit(&sample()));
    }

    /// What a CI reads back: the counts, each case's status and time, a
    /// failure's context, a skipped test as skipped.
    #[test]
    fn junit_reads_back_with_failures_skips_and_times() {
        use quick_junit::{NonSuccessKind, TestCaseStatus};
        let mut labs = sample();
        let mut skipped = leaf("after echo", 0, 5, Outcome::Skipped);
        skipped.context = vec!["not scored: it requires \"echo\", which did not pass".into()];
        labs[0].push(skipped);
        let xml = junit(&labs);
        assert!(
            xml.ends_with("</testsuites>\n") && !xml.ends_with("\n\n"),
            "{xml}"
        );
        let back = quick_junit::Report::deserialize_from_str(&xml).unwrap();
        assert_eq!((back.tests, back.failures, back.errors), (8, 4, 0));
        let base = &back.test_suites[0];
        assert_eq!(
            (base.name.as_str(), base.tests, base.skipped),
            ("base", 6, 1)
        );
        let case = |name: &str| {
            base.test_cases
                .iter()
                .find(|c| c.name.as_str() == name)
                .unwrap_or_else(|| panic!("no case {name}"))
        };
        assert!(matches!(
            case("boot").status,
            TestCaseStatus::Success { .. }
        ));
        assert_eq!(case("boot").time, Some(Duration::from_millis(1250)));
        match &case("echo").status {
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Failure,
                ty,
                message,
                description,
                ..
            } => {
                assert_eq!(ty.as_deref(), Some("FAIL"));
                assert_eq!(message.as_deref(), Some("FAIL: 0 of 5 points"));
                let text = description.as_deref().unwrap();
                assert!(text.contains("missing a line matching /^hello$/"), "{text}");
                assert!(
                    text.contains("<hello & bye>"),
                    "control characters dropped: {text}"
                );
                assert!(text.ends_with("replay: cargo xtask grade base --seed 17 'echo'"));
            }
            other => panic!("echo: {other:?}"),
        }
        match &case("after echo").status {
            TestCaseStatus::Skipped { message, .. } => {
                assert!(message.as_deref().unwrap().contains("requires \"echo\""))
            }
            other => panic!("after echo: {other:?}"),
        }
        assert_eq!(back.test_suites[1].failures, 2);
    }

    #[test]
    fn gradescope_report() {
        let out = gradescope(&sample(), 312.6).to_json();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["score"], 20);
        assert_eq!(v["execution_time"], 313);
        assert_eq!(v["tests"].as_array().unwrap().len(), 7);
        insta::assert_snapshot!(out);
    }
}
