//! `grader`: grades a kernel that is already built, e.g.
//! `grader lab-util --kernel target/.../kernel --fs target/.../fs.img`.
//! `cargo xtask grade` builds each lab first and runs the same grader.

use std::path::{Path, PathBuf};

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

const STANDALONE_HELP: &str = "
Standalone options (the `grader` binary):
  --kernel FILE          the kernel ELF to grade
  --fs FILE              its file system image
  --host-bin DIR         where the programs of a spec's host runs are
                         (`host = true`), built
  --root DIR             the tree whose labs/ holds the specs
                         [default: the nearest directory up with a labs/]";

fn main() {
    let mut builder = GivenFiles {
        kernel: None,
        fs_img: None,
        used_for: None,
        root: None,
        host_bin: None,
    };
    let mut root = None;
    let mut rest = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        let (flag, inline) = match text.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.into())),
            _ => (text.clone(), None),
        };
        let slot = match flag.as_str() {
            "--kernel" => &mut builder.kernel,
            "--fs" => &mut builder.fs_img,
            "--root" => &mut root,
            "--host-bin" => &mut builder.host_bin,
            _ => {
                rest.push(arg);
                continue;
            }
        };
        match inline.or_else(|| args.next()) {
            Some(value) => *slot = Some(PathBuf::from(value)),
            None => {
                eprintln!("grader: {flag} needs a value (see --help)");
                std::process::exit(2);
            }
        }
    }
    for (flag, file) in [("--kernel", &builder.kernel), ("--fs", &builder.fs_img)] {
        if let Some(file) = file.as_ref().filter(|f| !f.is_file()) {
            eprintln!("grader: {flag} {}: no such file", file.display());
            std::process::exit(2);
        }
    }
    builder.root = root.clone();
    let root = root.unwrap_or_else(find_root);
    let status = cli::run(&root, &rest, &mut builder);
    if rest.iter().any(|a| a == "-h" || a == "--help") {
        println!("{STANDALONE_HELP}");
    }
    std::process::exit(status);
}

/// The nearest directory, from here up, that has a `labs/` directory.
fn find_root() -> PathBuf {
    let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    here.ancestors()
        .find(|dir| dir.join("labs").is_dir())
        .map_or_else(|| here.clone(), Path::to_path_buf)
}
