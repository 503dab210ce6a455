//! A class graded on several machines: `--shard K/N` grades the K-th of N
//! slices of the submissions (sorted by name, so every machine agrees
//! without talking) and writes its part of the results; `cargo xtask merge`
//! combines the parts into the summary one run would have written.
//!
//! A part says what it was graded with (the lab, hashes of the specs and
//! of the starter tree, the grader's options) and which class it belongs
//! to (the number of submissions and a hash of their names), so parts of
//! different gradings, and a missing or doubled part, are refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Outcome;

/// The K-th (from 1) of N slices of a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}`: a shard is K/N, 1 <= K <= N, such as 2/4");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// Variables that give the shard where `--shard` is not given.
pub const SHARD_COUNT_VAR: &str = "XV6_SHARDS";

/// The shard the job engine gives this process, from its variables (`get`
/// reads one): a Kubernetes Indexed Job's JOB_COMPLETION_INDEX (from 0)
/// with the count in XV6_SHARDS (the Job's template sets it: Kubernetes
/// gives no count), or a Slurm array's SLURM_ARRAY_TASK_ID from
/// SLURM_ARRAY_TASK_MIN with SLURM_ARRAY_TASK_COUNT. None where neither is
/// set.
pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>, String> {
    let number = |var: &str| -> Result<Option<usize>, String> {
        get(var)
            .map(|v| {
                v.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("{var}={v} is not a number"))
            })
            .transpose()
    };
    if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        let n = number(SHARD_COUNT_VAR)?.ok_or_else(|| {
            format!(
                "JOB_COMPLETION_INDEX={index} but no {SHARD_COUNT_VAR}: set it to the Job's \
                 completions (see deploy/k8s/), or give --shard K/N"
            )
        })?;
        return Shard::from_str(&format!("{}/{n}", index + 1)).map(Some);
    }
    if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
        let n = number("SLURM_ARRAY_TASK_COUNT")?.ok_or_else(|| {
            "SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT: give --shard K/N".to_owned()
        })?;
        let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let k = id.checked_sub(min).map(|i| i + 1).unwrap_or(0);
        return Shard::from_str(&format!("{k}/{n}"))
            .map(Some)
            .map_err(|e| format!("{e} (from SLURM_ARRAY_TASK_ID={id}, an array of step 1)"));
    }
    Ok(None)
}

/// The submissions of `shard`: every N-th by name from the K-th, so that
/// slices are the same size within one and late names spread out.
pub fn slice<T>(mut all: Vec<(String, T)>, shard: Shard) -> Vec<(String, T)> {
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.into_iter()
        .enumerate()
        .filter(|(i, _)| i % shard.n == shard.k - 1)
        .map(|(_, s)| s)
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Which class a part is of: its size and a hash of its names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Class {
    pub submissions: usize,
    pub names: String,
}

impl Class {
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> Class {
        let mut names: Vec<&str> = names.into_iter().collect();
        names.sort();
        Class {
            submissions: names.len(),
            names: sha256_hex(names.join("\n").as_bytes()),
        }
    }
}

/// What a class was graded with: parts agree on all of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grading {
    pub lab: String,
    pub max_score: u64,
    /// SHA-256 over the specs (labs/*.toml).
    pub specs: String,
    /// SHA-256 over the starter tree's trusted files (specs, test
    /// programs, grader, kernel).
    pub starter: String,
    /// The options each submission's grader was given (seed, harts,
    /// tests), without this machine's timeout scale.
    pub options: Vec<String>,
}

impl Grading {
    /// The hashes of the starter tree at `starter`.
    pub fn hashes(starter: &Path) -> Result<(String, String), String> {
        let files = crate::verify::hashes(starter)?;
        let join = |keep: &dyn Fn(&str) -> bool| {
            let text: String = files
                .iter()
                .filter(|(p, _)| keep(p))
                .map(|(p, h)| format!("{h}  {p}\n"))
                .collect();
            sha256_hex(text.as_bytes())
        };
        let spec = |p: &str| p.starts_with("labs/") && p.ends_with(".toml");
        Ok((join(&spec), join(&|_| true)))
    }
}

/// One shard's results, as written to `part-K-of-N.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Part {
    /// The format of this file.
    pub part: u32,
    pub grading: Grading,
    pub shard: Shard,
    pub class: Class,
    /// The shard's submissions, each with `out` relative to the part's
    /// directory (the part travels with its results).
    pub outcomes: Vec<Outcome>,
}

const FORMAT: u32 = 1;

/// The file name of a shard's part.
pub fn file_name(shard: Shard) -> String {
    format!("part-{}-of-{}.json", shard.k, shard.n)
}

/// Writes the part of `shard` to `dir`, with its outcomes' directories made
/// relative to `dir`.
pub fn write(
    dir: &Path,
    grading: Grading,
    shard: Shard,
    class: Class,
    outcomes: &[Outcome],
) -> Result<PathBuf, String> {
    let outcomes = outcomes
        .iter()
        .map(|o| Outcome {
            out: super::summary::relative(dir, &o.out),
            ..o.clone()
        })
        .collect();
    let part = Part {
        part: FORMAT,
        grading,
        shard,
        class,
        outcomes,
    };
    let path = dir.join(file_name(shard));
    let text = serde_json::to_string_pretty(&part).expect("parts serialise") + "\n";
    crate::fsutil::AtomicFile::new(&path)?.write(text.as_bytes())?;
    Ok(path)
}

/// The part files in `paths`: files as given, and in directories every
/// `part-K-of-N.json` below them (artifacts come in a directory each).
pub fn find(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                walk(&path, out)?;
            } else if name.starts_with("part-") && name.ends_with(".json") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    if out.is_empty() {
        return Err(format!(
            "no part-K-of-N.json in {}: give the directories the shards wrote \
             (target/batch/<LAB>/) or their files",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(out)
}

/// Reads the parts at `files` and checks that they are the N parts of one
/// class graded one way: their outcomes, sorted by name, with their
/// directories as paths again, and what they were graded with.
pub fn merge(files: &[PathBuf]) -> Result<(Grading, Vec<Outcome>), String> {
    let mut parts: Vec<(PathBuf, Part)> = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        let part: Part = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}: not a part written by `grade --shard` ({e})",
                f.display()
            )
        })?;
        if part.part != FORMAT {
            return Err(format!(
                "{}: a part of format {}, this xtask reads {FORMAT}: merge with the xtask \
                 that graded it",
                f.display(),
                part.part
            ));
        }
        parts.push((f.clone(), part));
    }
    let (first_file, first) = &parts[0];
    for (file, p) in &parts[1..] {
        let differs = |what: &str| {
            Err(format!(
                "{} and {} were graded with different {what}: merge parts of one grading \
                 only (grade every shard from the same tree and options)",
                first_file.display(),
                file.display()
            ))
        };
        let (a, b) = (&first.grading, &p.grading);
        if a.lab != b.lab {
            return differs("labs");
        }
        if a.specs != b.specs || a.max_score != b.max_score {
            return differs("specs");
        }
        if a.starter != b.starter {
            return differs("starters");
        }
        if a.options != b.options {
            return differs("grader options (seeds, harts or tests)");
        }
        if p.class != first.class || p.shard.n != first.shard.n {
            return Err(format!(
                "{} and {} are parts of different classes ({} submissions in {} parts, {} in \
                 {}): merge the parts of one --submissions directory",
                first_file.display(),
                file.display(),
                first.class.submissions,
                first.shard.n,
                p.class.submissions,
                p.shard.n
            ));
        }
    }
    let n = first.shard.n;
    let mut by_k: BTreeMap<usize, &PathBuf> = BTreeMap::new();
    for (file, p) in &parts {
        if let Some(other) = by_k.insert(p.shard.k, file) {
            return Err(format!(
                "part {} is given twice ({} and {}): give each part once",
                p.shard,
                other.display(),
                file.display()
            ));
        }
    }
    let missing: Vec<String> = (1..=n)
        .filter(|k| !by_k.contains_key(k))
        .map(|k| format!("{k}/{n}"))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "part {} missing: the class has {} submissions in {n} parts and {} given; \
             grade the missing shard (--shard {}) or find its part-*.json",
            missing.join(", "),
            first.class.submissions,
            parts.len(),
            missing[0]
        ));
    }
    let grading = first.grading.clone();
    let class = first.class.clone();
    let mut outcomes: Vec<Outcome> = Vec::new();
    for (file, p) in parts {
        let dir = file.parent().unwrap_or(Path::new("."));
        outcomes.extend(p.outcomes.into_iter().map(|o| Outcome {
            out: dir.join(&o.out),
            ..o
        }));
    }
    outcomes.sort_by(|a, b| a.name.cmp(&b.name));
    if Class::of(outcomes.iter().map(|o| o.name.as_str())) != class {
        return Err(format!(
            "the parts hold {} submissions, not the class's {} (or other names): a part was \
             edited or cut short",
            outcomes.len(),
            class.submissions
        ));
    }
    Ok((grading, outcomes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Status;

    #[test]
    fn shards_parse_and_refuse_nonsense() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { k: 2, n: 4 }));
        assert_eq!("1/1".parse::<Shard>(), Ok(Shard { k: 1, n: 1 }));
        for bad in ["0/4", "5/4", "2", "a/b", "2/0", "-1/3", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("K/N"), "{bad}: {e}");
        }
    }

    #[test]
    fn engines_variables_give_the_shard() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(from_env(env(&[])), Ok(None));
        assert_eq!(
            from_env(env(&[("JOB_COMPLETION_INDEX", "0"), ("XV6_SHARDS", "3")])),
            Ok(Some(Shard { k: 1, n: 3 }))
        );
        assert!(from_env(env(&[("JOB_COMPLETION_INDEX", "3"), ("XV6_SHARDS", "3")])).is_err());
        let e = from_env(env(&[("JOB_COMPLETION_INDEX", "1")])).unwrap_err();
        assert!(e.contains("XV6_SHARDS"), "{e}");
        assert_eq!(
            from_env(env(&[
                ("SLURM_ARRAY_TASK_ID", "7"),
                ("SLURM_ARRAY_TASK_MIN", "5"),
                ("SLURM_ARRAY_TASK_COUNT", "4")
            ])),
            Ok(Some(Shard { k: 3, n: 4 }))
        );
        assert_eq!(
            from_env(env(&[
                ("SLURM_ARRAY_TASK_ID", "0"),
                ("SLURM_ARRAY_TASK_COUNT", "2")
            ])),
            Ok(Some(Shard { k: 1, n: 2 }))
        );
        assert!(from_env(env(&[("SLURM_ARRAY_TASK_ID", "x")])).is_err());
    }

    #[test]
    fn slices_cover_the_class_once_whatever_the_order() {
        let names = ["e", "a", "d", "c", "b", "g", "f", "h", "i"];
        let class = |rev: bool| {
            let mut v: Vec<(String, ())> = names.iter().map(|n| (n.to_string(), ())).collect();
            if rev {
                v.reverse();
            }
            v
        };
        for n in 1..=4 {
            let mut seen = Vec::new();
            for k in 1..=n {
                let s = slice(class(false), Shard { k, n });
                assert_eq!(s.len(), slice(class(true), Shard { k, n }).len());
                let t: Vec<String> = slice(class(true), Shard { k, n })
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect();
                let f: Vec<String> = s.into_iter().map(|(n, _)| n).collect();
                assert_eq!(f, t, "the order given does not matter");
                seen.extend(f);
            }
            seen.sort();
            assert_eq!(seen, {
                let mut all: Vec<String> = names.iter().map(|s| s.to_string()).collect();
                all.sort();
                all
            });
        }
    }

    fn outcome(name: &str, score: u64, out: &Path) -> Outcome {
        Outcome {
            name: name.into(),
            status: Status::Graded,
            score,
            max_score: 20,
            seconds: 1.5,
            report: None,
            out: out.join("results").join(name),
        }
    }

    fn grading() -> Grading {
        Grading {
            lab: "lab-trace".into(),
            max_score: 20,
            specs: "s".into(),
            starter: "t".into(),
            options: vec!["--seed".into(), "3".into()],
        }
    }

    /// Parts of a class of five in `n` shards, in directories of their own.
    fn parts(root: &Path, n: usize, grading: &dyn Fn(usize) -> Grading) -> Vec<PathBuf> {
        let names = ["ann", "bob", "cy", "dee", "eve"];
        let class = Class::of(names);
        (1..=n)
            .map(|k| {
                let shard = Shard { k, n };
                let dir = root.join(format!("artifact-{k}"));
                std::fs::create_dir_all(&dir).unwrap();
                let mine = slice(names.iter().map(|s| (s.to_string(), ())).collect(), shard);
                let outs: Vec<Outcome> = mine
                    .iter()
                    .map(|(name, ())| outcome(name, name.len() as u64, &dir))
                    .collect();
                write(&dir, grading(k), shard, class.clone(), &outs).unwrap()
            })
            .collect()
    }

    #[test]
    fn parts_merge_into_the_whole_class_with_their_files() {
        let d = tempfile::tempdir().unwrap();
        let files = parts(d.path(), 3, &|_| grading());
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.contains("\"out\": \"results/ann\""), "{text}");
        let found = find(&[d.path().to_path_buf()]).unwrap();
        assert_eq!(found.len(), 3);
        let (g, outcomes) = merge(&found).unwrap();
        assert_eq!(g, grading());
        let names: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["ann", "bob", "cy", "dee", "eve"]);
        // Each submission's directory is where its part's artifact put it.
        let ann = &outcomes[0];
        assert_eq!(ann.out, d.path().join("artifact-1").join("results/ann"));
        assert_eq!(
            outcomes[1].out,
            d.path().join("artifact-2").join("results/bob")
        );
        assert_eq!(
            outcomes.iter().map(|o| o.score).sum::<u64>(),
            3 + 3 + 2 + 3 + 3
        );
    }

    #[test]
    fn a_lost_doubled_or_foreign_part_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let files = parts(d.path(), 3, &|_| grading());
        let e = merge(&files[..2]).unwrap_err();
        assert!(
            e.contains("part 3/3 missing") && e.contains("5 submissions"),
            "{e}"
        );
        let e = merge(&[files[0].clone(), files[1].clone(), files[1].clone()]).unwrap_err();
        assert!(e.contains("part 2/3 is given twice"), "{e}");

        for (what, change) in [
            (
                "specs",
                &(|g: &mut Grading| g.specs = "other".into()) as &dyn Fn(&mut Grading),
            ),
            ("starters", &|g: &mut Grading| g.starter = "other".into()),
            ("grader options", &|g: &mut Grading| {
                g.options[1] = "4".into()
            }),
            ("labs", &|g: &mut Grading| g.lab = "lab-cow".into()),
        ] {
            let d = tempfile::tempdir().unwrap();
            let files = parts(d.path(), 2, &|k| {
                let mut g = grading();
                if k == 2 {
                    change(&mut g);
                }
                g
            });
            let e = merge(&files).unwrap_err();
            assert!(e.contains(&format!("different {what}")), "{what}: {e}");
        }

        // Parts of another class (other names, or as many in other parts).
        let other = tempfile::tempdir().unwrap();
        let theirs = parts(other.path(), 2, &|_| grading());
        let e = merge(&[files[0].clone(), theirs[1].clone()]).unwrap_err();
        assert!(e.contains("different classes"), "{e}");

        // A part with a submission taken out.
        let mut part: Part =
            serde_json::from_str(&std::fs::read_to_string(&files[2]).unwrap()).unwrap();
        part.outcomes.pop();
        std::fs::write(&files[2], serde_json::to_string(&part).unwrap()).unwrap();
        let e = merge(&files).unwrap_err();
        assert!(
            e.contains("the parts hold 4 submissions, not the class's 5"),
            "{e}"
        );

        let e = merge(&[d.path().join("artifact-1")]).unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
        let empty = tempfile::tempdir().unwrap();
        let e = find(&[empty.path().to_path_buf()]).unwrap_err();
        assert!(e.contains("no part-K-of-N.json"), "{e}");
    }
}
