//! The command line of `cargo xtask`.

use std::ffi::OsString;

use crate::labs::LabSet;

pub const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  setup                      install what is missing: rustup target, QEMU, RISC-V gcc
  build [--lab L] [--host P]...
                             build the kernel, user programs and fs.img; --host:
                             also the host program P (a spec's host runs start them)
  qemu  [--lab L] [--cpus N] [--fresh-disk]
                             build, then boot xv6 in QEMU (Ctrl-A X quits); the
                             disk (target/xv6/<config>/disk.img) keeps what you
                             do in xv6, --fresh-disk starts it over
  gdb   [--lab L] [--cpus N] [--fresh-disk]
                             like qemu, but QEMU waits for gdb to attach
  grade <grader arguments>   build and grade a lab, e.g. `cargo xtask grade lab-{lab}`
  fsck  [--lab L] [--no-replay] [--crashed] [IMG]
                             check an xv6 image (default: disk.img, else fs.img);
                             a committed log is replayed first unless --no-replay;
                             --crashed: unlinked open files of a stopped machine are notes
  ci [--quick]               the checks CI runs: rustfmt, clippy, all tests;
                             --quick: the few-minute tier (no usertests runs)
  bench [--quick] [--runs N] [--json FILE] [--baseline FILE] [--threshold F]
                             time boots, the edit-rebuild-grade loop, in-guest figures,
                             usertests, grading and batch grading; --quick: the first
                             three (~2 min); --baseline: compare with a saved --json
                             run (exit 1 if a figure got slower beyond the spread
                             and F, default 1.25)
  bench --compare NEW.json --baseline OLD.json
                             compare two saved runs without measuring
  handout (LAB... | --all) --out DIR
                             write a student tree: the labs' solutions cut to starters
  check-starters [LAB...] [--quick]
                             the reference scores full marks, the starter builds
                             cleanly, passes the base tests and scores 0 on its lab
  handin LAB                 check the tree is committed, pack lab-LAB-handin.zip
  gradescope LAB [--out FILE.zip]
                             a Gradescope autograder bundle (no solution in it)
  grade LAB --submissions DIR [-j N] [--csv F] [--json F] [--html F] [--build-timeout T]
        [--build-only] [--only NAME] [--no-sandbox]
                             grade a class: each directory (a student's tree) or .patch
                             in DIR, only the lab's own files taken, each built and run
                             in a bubblewrap sandbox, in parallel; exit status 1 if any
                             submission was refused or did not build
                             (`cargo xtask grade --help` lists every option)
  verify-starter [DIR]       a student tree's test files (specs, test programs, grader,
                             xtask …) are the starter's, as handout recorded them

L is a lab ({kernel-labs}, or lab-{lab} …), a group of
labs, a comma-separated list of those, or all; without --lab, the base kernel.
N is the number of harts, 1 to 8 (default 3).
Outputs go to target/xv6/<config>/: kernel, kernel.asm, kernel.sym, fs.img.";

/// The end of `cargo xtask grade --help`: what `cargo xtask` adds to the
/// grader's own options (building, and grading a class).
pub const GRADE_HELP: &str = "
Building: `cargo xtask grade` builds each lab's kernel configuration first
(as `cargo xtask build --lab L`).

Grading a class: cargo xtask grade <LAB> --submissions DIR [OPTIONS] [TEST]...
  --submissions DIR      grade every submission in DIR: each directory (a
                         student's tree) or .patch file; only the lab's own
                         files are taken, over the starter, and built and
                         graded with this tree's specs, test programs and grader
  -j, --jobs N           submissions at once [default: the number of cores]
  --only NAME            grade only the submission NAME of DIR
  --build-timeout T      a build that takes longer is BUILD TIMEOUT
                         [default: 300s]
  --build-only           build the submissions, do not grade them (warms the
                         worker trees)
  --no-sandbox           build and boot without the sandbox (bubblewrap) when
                         it cannot be had: a submission's build can then read
                         any file you can
  --csv FILE             the class's scores, one row a submission, with its
                         reason (REFUSED, BUILD FAILED, TIMEOUT …) and report
  --json FILE            the same, with every submission's report
  --html FILE            a page of it, linking each submission's report and logs
  --gradescope FILE      Gradescope results.json (a DIR of one submission)
  Seeds, test filters, --cpus and --timeout-scale go to each submission's
  grader. Reports and logs: target/batch/<LAB>/results/<NAME>/.";

/// Harts QEMU gets unless `--cpus` says otherwise (as xv6's Makefile).
pub const DEFAULT_CPUS: u32 = 3;
const MAX_CPUS: u32 = abi::param::NCPU as u32;

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Help,
    Setup,
    Build {
        labs: LabSet,
        /// Host programs to build too (`--host P`).
        host: Vec<String>,
    },
    Qemu {
        labs: LabSet,
        cpus: u32,
        gdb: bool,
        fresh_disk: bool,
    },
    Grade {
        args: Vec<OsString>,
    },
    Fsck {
        labs: LabSet,
        image: Option<std::path::PathBuf>,
        opts: mkfs::check::Options,
    },
    Ci {
        quick: bool,
    },
    Bench(crate::bench::Options),
    /// The rest of the line goes to the command, which parses it.
    Handout {
        args: Vec<OsString>,
    },
    CheckStarters {
        args: Vec<OsString>,
    },
    Handin {
        args: Vec<OsString>,
    },
    Gradescope {
        args: Vec<OsString>,
    },
    VerifyStarter {
        args: Vec<OsString>,
    },
}

/// Parses the arguments after `cargo xtask`. The error is one line.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    use lexopt::prelude::*;

    let mut p = lexopt::Parser::from_args(args);
    let sub = match p.next().map_err(|e| e.to_string())? {
        None => return Err("no command given".into()),
        Some(Short('h') | Long("help")) => return Ok(Command::Help),
        Some(Value(v)) => v
            .into_string()
            .map_err(|v| format!("unknown command {v:?}"))?,
        Some(other) => return Err(other.unexpected().to_string()),
    };
    let cmd = match sub.as_str() {
        "help" => Command::Help,
        "setup" => Command::Setup,
        "ci" => {
            let mut quick = false;
            while let Some(arg) = p.next().map_err(|e| e.to_string())? {
                match arg {
                    Long("quick") => quick = true,
                    Short('h') | Long("help") => return Ok(Command::Help),
                    other => return Err(format!("{} for `ci`", other.unexpected())),
                }
            }
            return Ok(Command::Ci { quick });
        }
        // Everything after `grade` belongs to the grader, `--help` included.
        "grade" => Command::Grade {
            args: p.raw_args().map_err(|e| e.to_string())?.collect(),
        },
        "bench" => {
            let mut o = crate::bench::Options::default();
            while let Some(arg) = p.next().map_err(|e| e.to_string())? {
                let file =
                    |p: &mut lexopt::Parser, opt: &str| -> Result<std::path::PathBuf, String> {
                        p.value()
                            .map(Into::into)
                            .map_err(|_| format!("{opt} takes a file"))
                    };
                match arg {
                    Long("quick") => o.quick = true,
                    Long("runs") => {
                        let v = p.value().map_err(|e| e.to_string())?;
                        let v = v.to_string_lossy();
                        o.runs = Some(v.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                            format!("--runs takes a number of runs (1 or more), not `{v}`")
                        })?);
                    }
                    Long("threshold") => {
                        let v = p.value().map_err(|e| e.to_string())?;
                        let v = v.to_string_lossy();
                        o.threshold = Some(v.parse().map_err(|_| {
                            format!("--threshold takes a ratio such as 1.25, not `{v}`")
                        })?);
                    }
                    Long("json") => o.json = Some(file(&mut p, "--json")?),
                    Long("baseline") => o.baseline = Some(file(&mut p, "--baseline")?),
                    Long("compare") => o.compare = Some(file(&mut p, "--compare")?),
                    other => return Err(format!("{} for `bench`", other.unexpected())),
                }
            }
            if o.compare.is_some() && o.baseline.is_none() {
                return Err("--compare needs --baseline FILE to compare with".into());
            }
            return Ok(Command::Bench(o));
        }
        "handout" | "check-starters" | "handin" | "gradescope" | "verify-starter" => {
            let args = p.raw_args().map_err(|e| e.to_string())?.collect();
            return Ok(match sub.as_str() {
                "handout" => Command::Handout { args },
                "handin" => Command::Handin { args },
                "gradescope" => Command::Gradescope { args },
                "verify-starter" => Command::VerifyStarter { args },
                _ => Command::CheckStarters { args },
            });
        }
        "fsck" => {
            let (mut labs, mut image) = (LabSet::BASE, None);
            let mut opts = mkfs::check::Options::default();
            while let Some(arg) = p.next().map_err(|e| e.to_string())? {
                match arg {
                    Long("lab") | Short('l') => {
                        let spec = p.value().map_err(|e| e.to_string())?;
                        let spec = spec.to_str().ok_or("--lab takes a lab name")?;
                        labs = labs.union(LabSet::parse(spec)?);
                    }
                    Short('h') | Long("help") => return Ok(Command::Help),
                    Long("no-replay") => opts.no_replay = true,
                    Long("crashed") => opts.crashed = true,
                    Value(v) if image.is_none() => image = Some(v.into()),
                    other => return Err(format!("{} for `fsck`", other.unexpected())),
                }
            }
            return Ok(Command::Fsck { labs, image, opts });
        }
        "build" | "qemu" | "gdb" => {
            let mut labs = LabSet::BASE;
            let mut cpus = DEFAULT_CPUS;
            let mut fresh_disk = false;
            let mut host = Vec::new();
            while let Some(arg) = p.next().map_err(|e| e.to_string())? {
                match arg {
                    Short('h') | Long("help") => return Ok(Command::Help),
                    Long("fresh-disk") if sub != "build" => fresh_disk = true,
                    Long("host") if sub == "build" => {
                        let v = p.value().map_err(|e| e.to_string())?;
                        host.push(v.to_string_lossy().into_owned());
                    }
                    Long("lab") | Short('l') => {
                        let spec = p.value().map_err(|e| e.to_string())?;
                        let spec = spec.to_str().ok_or("--lab takes a lab name")?;
                        labs = labs.union(LabSet::parse(spec)?);
                    }
                    Long("cpus") if sub != "build" => {
                        let n = p.value().map_err(|e| e.to_string())?;
                        cpus = parse_cpus(&n.to_string_lossy())?;
                    }
                    other => return Err(format!("{} for `{sub}`", other.unexpected())),
                }
            }
            return Ok(match sub.as_str() {
                "build" => Command::Build { labs, host },
                _ => Command::Qemu {
                    labs,
                    cpus,
                    gdb: sub == "gdb",
                    fresh_disk,
                },
            });
        }
        other => return Err(format!("unknown command `{other}`")),
    };
    if let Some(extra) = p.next().map_err(|e| e.to_string())? {
        if matches!(extra, Short('h') | Long("help")) {
            return Ok(Command::Help);
        }
        return Err(format!("{} for `{sub}`", extra.unexpected()));
    }
    Ok(cmd)
}

fn parse_cpus(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_CPUS).contains(&n) => Ok(n),
        _ => Err(format!(
            "--cpus takes a number of harts from 1 to {MAX_CPUS}, not `{text}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Command, String> {
        parse(line.split_whitespace().map(OsString::from))
    }

    #[test]
    fn commands_and_defaults() {
        assert_eq!(parse_str("setup"), Ok(Command::Setup));
        assert_eq!(parse_str("ci"), Ok(Command::Ci { quick: false }));
        assert_eq!(parse_str("ci --quick"), Ok(Command::Ci { quick: true }));
        assert_eq!(parse_str("help"), Ok(Command::Help));
        assert_eq!(parse_str("--help"), Ok(Command::Help));
        assert_eq!(
            parse_str("build"),
            Ok(Command::Build {
                labs: LabSet::BASE,
                host: Vec::new()
            })
        );
        assert_eq!(
            parse_str("qemu"),
            Ok(Command::Qemu {
                labs: LabSet::BASE,
                cpus: 3,
                gdb: false,
                fresh_disk: false
            })
        );
    }

    #[test]
    fn lab_and_cpus_options() {
        let Ok(Command::Build { labs, .. }) = parse_str("build --lab cow,trace") else {
            panic!("build with labs")
        };
        assert_eq!(labs.config_name(), "trace-cow");
        let Ok(Command::Build { labs, .. }) = parse_str("build --lab=lab-cow --lab sysinfo") else {
            panic!("build with two --lab")
        };
        assert_eq!(labs.config_name(), "sysinfo-cow");
        assert_eq!(
            parse_str("gdb --cpus 1 --lab all"),
            Ok(Command::Qemu {
                labs: LabSet::all(),
                cpus: 1,
                gdb: true,
                fresh_disk: false
            })
        );
        assert_eq!(
            parse_str("qemu --cpus=8"),
            Ok(Command::Qemu {
                labs: LabSet::BASE,
                cpus: 8,
                gdb: false,
                fresh_disk: false
            })
        );
    }

    #[test]
    fn every_command_takes_help_and_qemu_a_fresh_disk() {
        for line in [
            "build --help",
            "qemu -h",
            "gdb --lab cow --help",
            "fsck --help",
            "setup --help",
            "ci --help",
            "help --help",
        ] {
            assert_eq!(parse_str(line), Ok(Command::Help), "{line}");
        }
        assert_eq!(
            parse_str("qemu --fresh-disk --lab cow"),
            Ok(Command::Qemu {
                labs: LabSet::parse("cow").unwrap(),
                cpus: 3,
                gdb: false,
                fresh_disk: true
            })
        );
        assert!(parse_str("build --fresh-disk").is_err());
        assert!(parse_str("ci --slow").is_err());
    }

    #[test]
    fn usage_errors_are_one_line() {
        for (line, want) in [
            ("", "no command given"),
            ("frobnicate", "unknown command `frobnicate`"),
            ("build --lab nosuch", "unknown lab `nosuch`"),
            ("build --lab", "missing argument"),
            (
                "qemu --cpus 0",
                "--cpus takes a number of harts from 1 to 8, not `0`",
            ),
            ("qemu --cpus 9", "not `9`"),
            ("qemu --cpus many", "not `many`"),
            ("build --cpus 2", "invalid option '--cpus' for `build`"),
            ("build extra", "unexpected argument \"extra\" for `build`"),
            ("setup --lab cow", "for `setup`"),
        ] {
            let err = parse_str(line).unwrap_err();
            assert!(err.contains(want), "{line:?} gave {err:?}");
            assert!(!err.contains('\n'), "{line:?} gave {err:?}");
        }
    }

    #[test]
    fn fsck_takes_an_image_and_options() {
        assert_eq!(
            parse_str("fsck"),
            Ok(Command::Fsck {
                labs: LabSet::BASE,
                image: None,
                opts: mkfs::check::Options::default()
            })
        );
        let Ok(Command::Fsck { labs, image, opts }) =
            parse_str("fsck --crashed x.img --lab cow --no-replay")
        else {
            panic!("fsck with options")
        };
        assert_eq!(labs.config_name(), "cow");
        assert_eq!(image, Some("x.img".into()));
        assert!(opts.crashed && opts.no_replay);
        let err = parse_str("fsck a.img b.img").unwrap_err();
        assert!(err.contains("for `fsck`"), "{err}");
    }

    #[test]
    fn grade_passes_everything_on() {
        assert_eq!(
            parse_str("grade lab-cow --json -j 2 --help"),
            Ok(Command::Grade {
                args: ["lab-cow", "--json", "-j", "2", "--help"]
                    .map(OsString::from)
                    .to_vec()
            })
        );
        assert_eq!(parse_str("grade"), Ok(Command::Grade { args: vec![] }));
    }

    #[test]
    fn starter_commands_parse_their_own_options() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            parse_str("handout --all --out x --help"),
            Ok(Command::Handout {
                args: os(&["--all", "--out", "x", "--help"])
            })
        );
        assert_eq!(
            parse_str("check-starters --quick"),
            Ok(Command::CheckStarters {
                args: os(&["--quick"])
            })
        );
        assert_eq!(
            parse_str("handin cow"),
            Ok(Command::Handin { args: os(&["cow"]) })
        );
    }
}
