//! `cargo xtask handout …`: its command line, and the GitHub Classroom
//! workflow a student tree gets.

use super::git::describe_source;
use super::tree::{RECORD, previous_tree};
use super::*;

/// `cargo xtask handout`'s options (its help is in `crate::args`).
#[derive(clap::Args, Debug, Clone, Default, PartialEq)]
pub struct Args {
    /// The labs the tree is for
    #[arg(value_name = "LAB", value_parser = Starters::parse)]
    pub labs: Vec<Starters>,
    /// Every lab
    #[arg(long)]
    pub all: bool,
    /// Where the tree goes
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Keep these labs' reference solutions (comma-separated): for a
    /// course that releases past labs' solutions, or an instructor's tree
    #[arg(long, value_name = "LABS", value_parser = Starters::parse)]
    pub solved: Vec<Starters>,
    /// Do not make DIR a git repository
    #[arg(long)]
    pub no_git: bool,
}

/// `cargo xtask handout …`.
pub fn command(ctx: &Ctx, args: &Args) -> Result<ExitCode, String> {
    let usage = |message: String| {
        eprintln!("handout: {message}");
        eprintln!("`cargo xtask handout --help` shows how to call it");
        Ok(ExitCode::from(2))
    };
    let gather = |sets: &[Starters]| sets.iter().cloned().fold(Starters::NONE, Starters::union);
    let (mut named, solved) = (gather(&args.labs), gather(&args.solved));
    let (all, git, out) = (args.all, !args.no_git, args.out.clone());
    let Some(out) = out else {
        return usage("say where the tree goes: --out DIR".into());
    };
    if all {
        named = Starters::all().minus(&solved);
    }
    if named.is_empty() {
        return usage("name the labs the tree is for, or --all".into());
    }
    if let Some(both) = named.names().find(|l| solved.contains(l)) {
        return usage(format!("lab {both} cannot be both a starter and --solved"));
    }
    let out = std::env::current_dir()
        .map(|cwd| cwd.join(&out))
        .unwrap_or(out);
    let starters = Starters::all().minus(&solved);
    // An unusable --out is the caller's to fix, like a bad option.
    if let Err(e) = previous_tree(&out, &out.join(RECORD)) {
        return usage(e);
    }
    let had_git = out.join(".git").exists();
    let report = write_student_tree(&ctx.root, &starters, &out)?;
    let shown = ctx.show(&out).into_owned();
    let what = if named == Starters::all() {
        "every lab".to_string()
    } else {
        format!("lab {}", named.names().collect::<Vec<_>>().join(", lab "))
    };
    eprintln!(
        "handout: {shown}: {} files ({} written, {} removed), starters for {}; \
         {} solution regions and {} solution files cut; {} solution lines checked absent",
        report.files,
        report.written,
        report.removed.len(),
        starters.names().collect::<Vec<_>>().join(" "),
        report.regions,
        report.solution_files.len(),
        report.lines_checked,
    );
    if !report.kept.is_empty() {
        eprintln!(
            "handout: reference solutions kept (--solved): {}",
            report.kept.join(" ")
        );
    }
    write_classroom_workflow(&ctx.root, &out, named)?;
    if git && !had_git {
        let message = format!(
            "Starter for {what}\n\nCut by `cargo xtask handout` from {}.",
            describe_source(&ctx.root)
        );
        init_repository(&out, &message)?;
        eprintln!("handout: {shown} is a git repository with one commit: \"Starter for {what}\"");
    } else if had_git {
        eprintln!("handout: {shown}/.git left as it was: commit the update there if you want it");
    }
    Ok(ExitCode::SUCCESS)
}

/// Where a student tree keeps its GitHub Actions workflow.
pub const CLASSROOM_WORKFLOW: &str = ".github/workflows/grade.yml";

/// The GitHub Classroom workflow (xtask/templates/classroom.yml), grading
/// the first lab the tree is for on every push, and the record of the
/// files a grade depends on that it checks first ([`crate::verify`]).
pub(super) fn write_classroom_workflow(
    root: &Path,
    out: &Path,
    named: Starters,
) -> Result<(), String> {
    let template = root.join("xtask/templates/classroom.yml");
    let text = std::fs::read_to_string(&template)
        .map_err(|e| format!("cannot read {}: {e}", template.display()))?;
    let first = labs::course_labs()[0];
    let lab = named.names().next().unwrap_or(first);
    let path = out.join(CLASSROOM_WORKFLOW);
    std::fs::create_dir_all(path.parent().expect("a file has a parent"))
        .and_then(|()| std::fs::write(&path, text.replace("{{LAB}}", &format!("lab-{lab}"))))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    crate::verify::write_manifest(out).map(|_| ())
}
