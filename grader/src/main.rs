//! `grader`: grades a kernel that is already built, e.g.
//! `grader lab-util --kernel target/.../kernel --fs target/.../fs.img`.
//! `cargo xtask grade` builds each lab first and runs the same grader.

use std::path::{Path, PathBuf};

use clap::{CommandFactory, FromArgMatches, Parser};
use grader::args::GradeArgs;
use grader::cli::{self, Builder, Built};
use grader::grade::shell_quote;

/// Hands out the kernel and image given on the command line: they are one
/// build, so they serve one set of lab features only.
struct GivenFiles {
    kernel: Option<PathBuf>,
    fs_img: Option<PathBuf>,
    used_for: Option<Vec<String>>,
    /// `--root` as given, for the commands reports suggest.
    root: Option<PathBuf>,
    /// `--host-bin`: where the host programs of host runs are.
    host_bin: Option<PathBuf>,
}

impl Builder for GivenFiles {
    fn build(&mut self, features: &[String]) -> Result<Built, String> {
        let (Some(kernel), Some(fs_img)) = (&self.kernel, &self.fs_img) else {
            return Err("no kernel given: pass --kernel FILE --fs FILE, \
                        or run `cargo xtask grade` to build them"
                .into());
        };
        if let Some(used) = &self.used_for
            && used != features
        {
            return Err(format!(
                "the --kernel given is one build, already used for features [{}], \
                 and this lab needs [{}]: grade one lab at a time, or use `cargo xtask grade`",
                used.join(" "),
                features.join(" ")
            ));
        }
        self.used_for = Some(features.to_vec());
        Ok(Built {
            kernel: kernel.clone(),
            fs_img: fs_img.clone(),
            host: None,
        })
    }

    fn build_host(&mut self, programs: &[String]) -> Result<PathBuf, String> {
        let Some(dir) = &self.host_bin else {
            return Err(format!(
                "this lab runs host programs ({}): pass --host-bin DIR, where they are \
                 built, or run `cargo xtask grade`",
                programs.join(", ")
            ));
        };
        match programs.iter().find(|p| !dir.join(p).is_file()) {
            Some(p) => Err(format!(
                "--host-bin {}: no program {p} there",
                dir.display()
            )),
            None => Ok(dir.clone()),
        }
    }

    fn command(&self) -> String {
        let mut line = "grader".to_owned();
        for (flag, value) in [
            ("--root", &self.root),
            ("--kernel", &self.kernel),
            ("--fs", &self.fs_img),
            ("--host-bin", &self.host_bin),
        ] {
            if let Some(v) = value {
                line.push_str(&format!(" {flag} {}", shell_quote(&v.to_string_lossy())));
            }
        }
        line
    }
}

/// The standalone grader's command line: the grader's options and the
/// files it grades.
#[derive(Parser)]
#[command(name = "grader", args_override_self = true)]
struct Cli {
    #[command(flatten)]
    grade: GradeArgs,

    /// The kernel ELF to grade
    #[arg(long, value_name = "FILE", help_heading = "Standalone options")]
    kernel: Option<PathBuf>,

    /// Its file system image
    #[arg(long = "fs", value_name = "FILE", help_heading = "Standalone options")]
    fs_img: Option<PathBuf>,

    /// Where the programs of a spec's host runs (`host = true`) are, built
    #[arg(long, value_name = "DIR", help_heading = "Standalone options")]
    host_bin: Option<PathBuf>,

    /// The tree whose labs/ holds the specs [default: the nearest
    /// directory up with a labs/]
    #[arg(long, value_name = "DIR", help_heading = "Standalone options")]
    root: Option<PathBuf>,
}

fn main() {
    let cmd = grader::args::describe(Cli::command(), "grader", "");
    let cli = match cmd
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => match grader::args::usage_error("grader", "grader", &e) {
            Some(message) => {
                eprintln!("{message}");
                std::process::exit(2);
            }
            None => e.exit(),
        },
    };
    for (flag, file) in [("--kernel", &cli.kernel), ("--fs", &cli.fs_img)] {
        if let Some(file) = file.as_ref().filter(|f| !f.is_file()) {
            eprintln!("grader: {flag} {}: no such file", file.display());
            std::process::exit(2);
        }
    }
    let mut builder = GivenFiles {
        kernel: cli.kernel,
        fs_img: cli.fs_img,
        used_for: None,
        root: cli.root.clone(),
        host_bin: cli.host_bin,
    };
    let root = cli.root.unwrap_or_else(find_root);
    std::process::exit(cli::run(&root, &cli.grade, &mut builder));
}

/// The nearest directory, from here up, that has a `labs/` directory.
fn find_root() -> PathBuf {
    let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    here.ancestors()
        .find(|dir| dir.join("labs").is_dir())
        .map_or_else(|| here.clone(), Path::to_path_buf)
}
