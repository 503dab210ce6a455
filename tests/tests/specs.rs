//! Base spec checks against recorded consoles: the counts it expects are
//! the image's, and a kill that did nothing, or a missing `sleep`, fails.
//! No QEMU: the consoles are what the programs print.

use std::path::{Path, PathBuf};

use grader::check::{Console, evaluate};
use grader::spec::{self, Check, Spec};
use grader::symbols::Symbolize;

struct NoSymbols;

impl Symbolize for NoSymbols {
    fn functions(&self, _: u64) -> Result<Vec<String>, String> {
        Err("no kernel here".into())
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn base() -> Spec {
    spec::load(&root(), "base", 1).expect("labs/base.toml loads")
}

/// Whether test `name`'s checks, other than `usertest` (which needs a
/// usertests run), all hold on `console`.
fn passes(spec: &Spec, name: &str, console: &str) -> bool {
    let test = spec
        .tests
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("base has no test {name}"));
    let console = Console::new(console);
    test.checks
        .iter()
        .filter(|c| !matches!(c, Check::Usertest(_)))
        .all(|c| evaluate(c, &console, &NoSymbols).passed)
}

/// Lines, words and bytes, as the image's wc counts them.
fn wc(text: &str) -> (usize, usize, usize) {
    (
        text.matches('\n').count(),
        text.split_ascii_whitespace().count(),
        text.len(),
    )
}

#[test]
fn wc_and_grep_expect_the_counts_of_the_readme_on_the_image() {
    // xtask's build puts user/README on the image as README.
    let readme = std::fs::read_to_string(root().join("user/README")).unwrap();
    let spec = base();
    let n = spec.random["n"];
    let (l, w, c) = wc(&readme);
    let xv6: String = readme
        .split_inclusive('\n')
        .filter(|l| l.contains("xv6"))
        .collect();
    let (gl, gw, gc) = wc(&xv6);
    let good = |l, w, c, gl, gw, gc| format!("{l} {w} {c} README\n{gl} {gw} {gc} \n{n} apples\n");
    let console = good(l, w, c, gl, gw, gc);
    assert!(
        passes(&spec, "wc", &console) && passes(&spec, "grep", &console),
        "labs/base.toml's wc and grep counts are stale: user/README has\n{console}"
    );
    // Any count off by one fails.
    for off in 0..6 {
        let mut v = [l, w, c, gl, gw, gc];
        v[off] += 1;
        let bad = good(v[0], v[1], v[2], v[3], v[4], v[5]);
        let name = if off < 3 { "wc" } else { "grep" };
        assert!(!passes(&spec, name, &bad), "{name} passed on\n{bad}");
    }
}

/// The kill run's console: `first` and `second` are what `tok kill 4`
/// printed each time, `third` what `tok kill 6` printed.
fn kill_console(first: &str, second: &str, third: &str) -> String {
    format!(
        "{first}test killstatus: OK\nALL TESTS PASSED\n{second}{third}after kill\ntok: exit 0\n"
    )
}

const KILLED: &str = "tok: exit 0\n";
const NO_4: &str = "kill: 4: no such process\ntok: exit 1\n";
const NO_6: &str = "kill: 6: no such process\ntok: exit 1\n";

#[test]
fn kill_passes_only_when_the_sleep_was_there_and_died() {
    let spec = base();
    assert!(passes(&spec, "kill", &kill_console(KILLED, NO_4, KILLED)));
    // A kill that did nothing: 4 is still there to kill afterwards.
    assert!(!passes(
        &spec,
        "kill",
        &kill_console(KILLED, KILLED, KILLED)
    ));
    // No sleep on the image: the first kill or the last finds nothing.
    assert!(!passes(&spec, "kill", &kill_console(NO_4, NO_4, NO_6)));
    assert!(!passes(&spec, "kill", &kill_console(KILLED, NO_4, NO_6)));
    // A kill program that says nothing and always exits 0.
    assert!(!passes(
        &spec,
        "kill",
        &kill_console(KILLED, KILLED, KILLED)
    ));
    // One that killed both.
    let both = format!("tok: exit 0\n{}", kill_console("", NO_4, NO_6));
    assert!(!passes(&spec, "kill", &both));
}
