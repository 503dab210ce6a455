//! The second wall of batch grading: every file a batch writes for a
//! submission is searched for lines of the instructor's reference lab
//! files, and a line holding one is replaced by [`MARKER`]. With the build
//! sandbox no submission can read the reference, so this should never
//! fire; if the sandbox is off or broken, no report still shows the text.

use std::path::Path;

use aho_corasick::AhoCorasick;
use serde_json::Value;

/// What a redacted line becomes.
pub const MARKER: &str = "[redacted: reference solution text]";

/// Lines shorter than this (without spaces) are too common to be telling
/// (`}`, `Ok(())`, `let mut n = 0;`).
const MIN_CHARS: usize = 12;

/// The reference lines of every lab.
pub struct Reference {
    lines: Vec<String>,
}

/// The lines of `text` worth looking for, trimmed.
fn telling_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.chars().filter(|c| !c.is_whitespace()).count() >= MIN_CHARS)
}

impl Reference {
    /// The lines of every lab's reference files in `root` that are not in
    /// any starter file in `starter` (those a student is given anyway).
    pub fn new(root: &Path, starter: &Path) -> Reference {
        let files = crate::labs::registry().student_files();
        let read = |dir: &Path, f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        let given: std::collections::HashSet<String> = files
            .iter()
            .flat_map(|f| {
                telling_lines(&read(starter, f))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut lines: Vec<String> = files
            .iter()
            .flat_map(|f| {
                telling_lines(&read(root, f))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter(|l| !given.contains(l))
            .collect();
        lines.sort();
        lines.dedup();
        Reference { lines }
    }

    /// A redactor for one submission: the lines of its own files (`own`)
    /// are its author's and not looked for.
    pub fn redactor(&self, own: &[(String, Vec<u8>)]) -> Redactor {
        let theirs: std::collections::HashSet<&str> = own
            .iter()
            .flat_map(|(_, bytes)| telling_lines(std::str::from_utf8(bytes).unwrap_or("")))
            .collect();
        let lines: Vec<&String> = self
            .lines
            .iter()
            .filter(|l| !theirs.contains(l.as_str()))
            .collect();
        Redactor {
            matcher: (!lines.is_empty())
                .then(|| AhoCorasick::new(lines).expect("plain strings make an automaton")),
            rewrites: Vec::new(),
        }
    }
}

/// Redacts reference lines, and makes the other textual replacements a
/// batch needs in its outputs (the grader's replay commands).
pub struct Redactor {
    matcher: Option<AhoCorasick>,
    rewrites: Vec<(String, String)>,
}

impl Redactor {
    /// Also replace every `from` with `to`.
    pub fn rewrite(mut self, from: String, to: String) -> Redactor {
        if !from.is_empty() {
            self.rewrites.push((from, to));
        }
        self
    }

    /// `text` redacted, and whether anything was redacted.
    pub fn text(&self, text: &str) -> (String, bool) {
        let mut out = String::with_capacity(text.len());
        let mut hit = false;
        for line in text.split_inclusive('\n') {
            if self.matcher.as_ref().is_some_and(|m| m.is_match(line)) {
                hit = true;
                out.push_str(MARKER);
                if line.ends_with('\n') {
                    out.push('\n');
                }
            } else {
                out.push_str(line);
            }
        }
        for (from, to) in &self.rewrites {
            out = out.replace(from.as_str(), to);
        }
        (out, hit)
    }

    /// Every string in `value` redacted; whether anything was.
    pub fn value(&self, value: &mut Value) -> bool {
        match value {
            Value::String(s) => {
                let (text, hit) = self.text(s);
                *s = text;
                hit
            }
            Value::Array(items) => items.iter_mut().fold(false, |h, v| self.value(v) | h),
            Value::Object(map) => map.values_mut().fold(false, |h, v| self.value(v) | h),
            _ => false,
        }
    }

    /// Every file under `dir` (links not followed) redacted in place:
    /// JSON files string by string, others line by line. Returns how many
    /// files held reference text.
    pub fn dir(&self, dir: &Path) -> std::io::Result<usize> {
        let mut hits = 0;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                hits += self.dir(&path)?;
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let bytes = std::fs::read(&path)?;
            let text = String::from_utf8_lossy(&bytes);
            let json = (path.extension().is_some_and(|e| e == "json"))
                .then(|| serde_json::from_str::<Value>(&text).ok())
                .flatten();
            let (new, hit) = match json {
                Some(mut value) => {
                    let before = value.clone();
                    let hit = self.value(&mut value);
                    if value == before {
                        continue;
                    }
                    let text = serde_json::to_string_pretty(&value).expect("JSON serialises");
                    (text + "\n", hit)
                }
                None => self.text(&text),
            };
            hits += usize::from(hit);
            if new.as_bytes() != bytes.as_slice() {
                std::fs::write(&path, new)?;
            }
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(lines: &[&str]) -> Reference {
        Reference {
            lines: lines.iter().map(|l| l.to_string()).collect(),
        }
    }

    #[test]
    fn reference_lines_are_replaced_wherever_they_stand() {
        let r = reference(&["let answer = reference_only(42);"]).redactor(&[]);
        let (text, hit) =
            r.text("boot\n3: let answer = reference_only(42); printed\n$ \nlet answer =");
        assert!(hit);
        assert_eq!(text, format!("boot\n{MARKER}\n$ \nlet answer ="));
        let mut v =
            serde_json::json!({"console": ["ok", "x\n  let answer = reference_only(42);\ny"]});
        assert!(r.value(&mut v));
        assert_eq!(v["console"][1], format!("x\n{MARKER}\ny"));
        assert_eq!(
            r.text("nothing here\n"),
            ("nothing here\n".to_owned(), false)
        );
    }

    #[test]
    fn a_students_own_lines_and_the_starters_stay() {
        let line = "let answer = reference_only(42);";
        let own = vec![(
            "labs/src/trace.rs".to_owned(),
            format!("  {line}\n").into_bytes(),
        )];
        let r = reference(&[line]).redactor(&own);
        assert!(!r.text(line).1);

        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let starter = tempfile::tempdir().unwrap();
        for f in crate::handout::lab_files("trace") {
            let text = std::fs::read_to_string(root.join(&f)).unwrap();
            let to = starter.path().join(&f);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::write(to, text).unwrap();
        }
        // The trace lab's whole text is "given" here: none of it is looked
        // for, and the other labs' is.
        let r = Reference::new(&root, starter.path()).redactor(&[]);
        let trace = std::fs::read_to_string(root.join("labs/src/trace.rs")).unwrap();
        assert!(!r.text(&trace).1);
        let cow = std::fs::read_to_string(root.join("labs/src/cow.rs")).unwrap();
        assert!(r.text(&cow).1);
    }

    #[test]
    fn files_in_a_directory_and_replay_lines() {
        let dir = tempfile::tempdir().unwrap();
        let line = "let stolen_reference_line = 42;";
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        std::fs::write(dir.path().join("logs/run.log"), format!("a\n{line}\nb\n")).unwrap();
        std::fs::write(
            dir.path().join("report.json"),
            serde_json::json!({"replay": "grader --root /w x", "console": format!("{line}\n")})
                .to_string(),
        )
        .unwrap();
        let r = reference(&[line])
            .redactor(&[])
            .rewrite("grader --root /w".into(), "cargo xtask grade".into());
        assert_eq!(r.dir(dir.path()).unwrap(), 2);
        let log = std::fs::read_to_string(dir.path().join("logs/run.log")).unwrap();
        assert_eq!(log, format!("a\n{MARKER}\nb\n"));
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
                .unwrap();
        assert_eq!(report["replay"], "cargo xtask grade x");
        assert_eq!(report["console"], format!("{MARKER}\n"));
    }
}
