//! `cargo xtask gradescope <lab> --out FILE.zip`: an autograder bundle for
//! Gradescope. The zip holds a student tree (every lab's solution cut, so
//! the bundle leaks none), `setup.sh`, which Gradescope runs once to build
//! its image, and `run_autograder`, which it runs for each submission: a
//! batch of one (`cargo xtask grade --submissions`), so that a Gradescope
//! grade is built and checked exactly as a batch grade is, and writes
//! `/autograder/results/results.json`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::handout::{self, Starters};
use crate::run::Ctx;

/// `cargo xtask gradescope`'s options (its help is in `crate::args`).
#[derive(clap::Args, Debug, Clone, Default, PartialEq)]
pub struct Args {
    /// The lab (lab-NAME) or group the bundle grades
    #[arg(value_name = "LAB")]
    pub lab: Option<String>,
    /// The zip to write [default: target/gradescope/LAB-autograder.zip]
    #[arg(long, value_name = "FILE.zip")]
    pub out: Option<PathBuf>,
}

pub fn command(ctx: &Ctx, args: &Args) -> Result<ExitCode, String> {
    let (lab, out) = (args.lab.clone(), args.out.clone());
    let lab =
        lab.ok_or_else(|| crate::labs::fill("name the lab: `cargo xtask gradescope lab-{lab}`"))?;
    if grader::spec::load(&ctx.root, &lab, 0).is_err() {
        return Err(format!(
            "no lab `{lab}`: `cargo xtask grade --list` lists them"
        ));
    }
    let out = out.unwrap_or_else(|| {
        ctx.target_dir
            .join("gradescope")
            .join(format!("{lab}-autograder.zip"))
    });
    let tree = ctx.target_dir.join("gradescope").join(&lab).join("tree");
    let report = handout::write_student_tree(&ctx.root, &Starters::all(), &tree)?;
    write_script(&tree.join("setup.sh"), &setup_sh(&lab))?;
    write_script(&tree.join("run_autograder"), &run_autograder(&lab))?;
    let mut files = list(&tree)?;
    files.sort();
    let packed = crate::handin::pack(&tree, &files, &out)?;
    println!(
        "gradescope: wrote {} ({} files, {} KiB; {} solution regions cut)",
        out.display(),
        packed.files,
        packed.bytes / 1024,
        report.regions
    );
    Ok(ExitCode::SUCCESS)
}

fn write_script(path: &Path, text: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text)
        .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Every file under `dir` but build output, relative to it.
fn list(dir: &Path) -> Result<Vec<String>, String> {
    fn walk(top: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                if entry.file_name() != "target" && entry.file_name() != ".git" {
                    walk(top, &path, out)?;
                }
            } else {
                let rel = path.strip_prefix(top).expect("under top");
                out.push(rel.to_string_lossy().into_owned());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    Ok(out)
}

fn setup_sh(lab: &str) -> String {
    format!(
        r#"#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder's image: the
# tools, then a first build of {lab}, so that each submission rebuilds only
# the lab's own crate.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q qemu-system-misc gdb-multiarch curl ca-certificates build-essential git jq
if ! command -v rustup >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/rustup" ]; then
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none
fi
. "$HOME/.cargo/env"
# The toolchain rust-toolchain.toml names, its components and the target.
rustup show active-toolchain || rustup toolchain install
rustup target add riscv64gc-unknown-none-elf
cargo xtask setup
# A first batch of the starter's own files builds the worker tree that
# each submission is built in.
warm=$(mktemp -d)
mkdir -p "$warm/starter"
cp -r labs user "$warm/starter/"
# --no-sandbox: this tree holds no solution to hide (it is a student's),
# and a container seldom lets bubblewrap make its namespaces.
cargo xtask grade {lab} --submissions "$warm" -j 1 --build-only --no-sandbox
rm -rf "$warm"
"#
    )
}

fn run_autograder(lab: &str) -> String {
    format!(
        r#"#!/usr/bin/env bash
# Gradescope runs this for each submission (in /autograder/submission: a
# hand-in zip's tree, or the lab's files alone) and reads the scores from
# /autograder/results/results.json. AUTOGRADER_ROOT moves /autograder, to
# try it elsewhere.
set -uo pipefail
AG="${{AUTOGRADER_ROOT:-/autograder}}"
SOURCE="$AG/source"
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
unset CARGO_TARGET_DIR
mkdir -p "$AG/results" "$AG/work"
# A batch of one: only the lab's own files are taken from the submission,
# checked, and built over this tree.
rm -rf "$AG/work/submissions"
mkdir -p "$AG/work/submissions"
ln -s "$AG/submission" "$AG/work/submissions/submission"
cd "$SOURCE"
# --no-sandbox as in setup.sh: no solution is here to read.
cargo xtask grade {lab} --submissions "$AG/work/submissions" -j 1 --no-sandbox \
    --gradescope "$AG/results/results.json"
status=$?
# A grade below full marks is not an error of the autograder.
if [ -s "$AG/results/results.json" ]; then exit 0; fi
exit "$status"
"#
    )
}
