//! The class page as an instructor uses it: opened from disk in a real
//! headless browser (Debian's Chromium; skipped, saying so, where there is
//! none: .ci/run installs it).

use super::summary::{Summary, score_bins, shown};
use super::tests::{outcome, report};
use super::*;

fn browser() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(crate::run::find_in_path)
}

/// The page's DOM after its script ran, opened at `url`, and the
/// browser's log (console messages, refused loads).
fn open(browser: &Path, profile: &Path, url: &str) -> (String, String) {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            // Nothing leaves this machine, whatever the page asks.
            "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .stdin(Stdio::null())
        .output()
        .expect("the browser runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The first cells of the rows of the table `id` in `dom`, in order.
fn first_cells(dom: &str, id: &str) -> Vec<String> {
    let table = &dom[dom
        .find(&format!(" id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no table {id} in {dom}"))..];
    let body = &table[table.find("<tbody>").unwrap()..table.find("</tbody>").unwrap()];
    body.split("<tr")
        .skip(1)
        .map(|row| {
            let cell = &row[row.find("<td>").unwrap() + 4..];
            cell[..cell.find("</td>").unwrap()].to_owned()
        })
        .collect()
}

#[test]
fn the_class_page_renders_sorts_links_and_shows_hostile_text_as_text() {
    let Some(browser) = browser() else {
        // The suite has no "must not skip" switch (the gdb tests skip the
        // same way): .ci/run installs Chromium, so CI runs this.
        eprintln!(
            "SKIPPED: the_class_page_renders_sorts_links_and_shows_hostile_text_as_text: \
             no chromium, chromium-browser or google-chrome on PATH (Debian: apt-get install chromium)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let hostile = "<img src=x onerror=alert(1)>\u{1b}[31m & \"x\"";
    let class = [
        ("carol", 10, true, true),
        ("alice", 5, true, false),
        (hostile, 0, false, false),
        ("bob", 10, true, true),
    ];
    let outcomes: Vec<Outcome> = class
        .iter()
        .map(|&(name, score, simple, three)| {
            let mut o = outcome(name, score, Status::Graded, Some(report(simple, three)));
            o.out = results.join(name);
            std::fs::create_dir_all(&o.out).unwrap();
            std::fs::write(o.out.join("grade.txt"), format!("{name}: {score}")).unwrap();
            o
        })
        .collect();
    let mut refused = outcome(
        "dave",
        0,
        Status::Refused {
            reason: "</td><script>document.body.setAttribute('data-error','injected')</script>"
                .into(),
        },
        None,
    );
    refused.out = results.join("dave");
    let outcomes = [outcomes, vec![refused]].concat();
    let summary = Summary::new("lab-cow", 10, &outcomes);
    let pages = dir.path().join("pages");
    std::fs::create_dir_all(&pages).unwrap();
    let page = pages.join("class.html");
    std::fs::write(&page, summary.html(&pages)).unwrap();
    let url = |fragment: &str| format!("file://{}{fragment}", page.display());
    let profile = dir.path().join("profile");

    // As written: rendered, the script ran without an error, nothing was
    // refused or loaded.
    let (dom, log) = open(&browser, &profile, &url(""));
    assert!(dom.contains("data-ready=\"1\""), "{dom}\n{log}");
    assert!(!dom.contains("data-error=\""), "{dom}");
    for bad in ["Uncaught", "Content Security Policy", "Refused to", "ERR_"] {
        assert!(!log.contains(bad), "{bad} in the browser's log:\n{log}");
    }
    assert_eq!(
        first_cells(&dom, "submissions"),
        [
            "carol",
            "alice",
            &shown(hostile)
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;"),
            "bob",
            "dave"
        ]
    );
    // Hostile text is text: no element came of it, no script ran.
    assert!(!dom.contains("<img"), "{dom}");
    assert!(!dom.contains("<script>document"), "{dom}");
    assert!(dom.contains("&lt;/td&gt;&lt;script&gt;"), "{dom}");
    assert!(!dom.contains('\u{1b}') && dom.contains('\u{241b}'), "{dom}");
    // Nothing to load: no address outside the page.
    for attr in ["src=\"", "href=\"http", "href=\"//", "url("] {
        assert!(!dom.contains(attr), "{attr} in {dom}");
    }
    // The pictures are in the page: a bar per score bin, one per test.
    let bins = score_bins(10, &[10, 5, 0, 10]);
    assert_eq!(bins.len(), 11);
    assert_eq!(bins[10], (10, 10, 2));
    let svg = |id: &str| {
        let s = &dom[dom.find(&format!(" id=\"{id}\"")).expect(id)..];
        s[..s.find("</svg>").unwrap()].to_owned()
    };
    assert_eq!(svg("histogram").matches("<rect").count(), bins.len());
    assert!(svg("histogram").contains("2 scored 10–10"));
    assert_eq!(
        svg("passrates").matches("<rect").count(),
        2 * summary.tests.len()
    );
    assert!(svg("passrates").contains(">75%<"), "{}", svg("passrates"));

    // Sorted by score, then by name descending, then tests by pass rate.
    let (dom, log) = open(&browser, &profile, &url("#sort=submissions.1"));
    assert!(dom.contains("data-ready=\"1\""), "{log}");
    let by_score = first_cells(&dom, "submissions");
    assert_eq!(&by_score[3..], ["carol", "bob"], "{by_score:?}");
    assert!(by_score[..3].contains(&"alice".to_owned()));
    assert_eq!(by_score[2], "alice", "0, 0, then 5: {by_score:?}");
    assert!(dom.contains("aria-sort=\"ascending\""), "{dom}");
    let (dom, _) = open(&browser, &profile, &url("#sort=submissions.0.desc"));
    let names = first_cells(&dom, "submissions");
    assert_eq!(names[..4], ["dave", "carol", "bob", "alice"], "{names:?}");
    let (dom, _) = open(&browser, &profile, &url("#sort=tests.2"));
    let tests = first_cells(&dom, "tests");
    assert_eq!(
        tests,
        ["usertests: copyin", "simple"],
        "by pass rate: {tests:?}"
    );

    // Each row's report link leads to that submission's report.
    for (name, score, ..) in class {
        let link = format!(
            "href=\"../results/{}/grade.txt\"",
            super::summary::href(Path::new(name))
        );
        assert!(dom.contains(&link), "{link}");
        let file = pages.join("../results").join(name).join("grade.txt");
        assert_eq!(
            std::fs::read_to_string(file).unwrap(),
            format!("{name}: {score}")
        );
    }
}
