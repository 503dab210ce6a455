//! `cargo xtask`: sets the machine up, builds the kernel, user programs and
//! file system image of a lab configuration, boots them in QEMU (with or
//! without gdb), grades a lab, and runs the CI checks. `cargo xtask help`
//! lists the commands; `args` defines them all.

mod args;
mod asm;
mod batch;
mod bench;
mod build;
mod check_starters;
mod ci;
mod frames;
mod fsck;
mod fsutil;
mod gdbnames;
mod gradescope;
mod handin;
mod handout;
mod labs;
mod listing;
mod qemu;
mod redact;
mod run;
mod sandbox;
mod setup;
mod submission;
mod usys;
mod verify;

use std::ffi::OsString;
use std::process::ExitCode;

use args::Command;
use run::Ctx;

fn main() -> ExitCode {
    // Everything that names labs reads the registry: a broken one is one
    // message here, not a failure later.
    if let Err(e) = labs::load() {
        eprintln!("xtask: {e}");
        eprintln!("xtask: labs/registry.toml says what the labs are; its header lists the keys");
        return ExitCode::from(2);
    }
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let command = match args::parse(argv.clone()) {
        Ok(c) => c,
        Err(e) => match args::usage_error(&argv, &e) {
            Some(message) => {
                eprintln!("{message}");
                return ExitCode::from(2);
            }
            // --help: clap prints it, to stdout.
            None => e.exit(),
        },
    };
    let ctx = match Ctx::new() {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("xtask: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result =
        match command {
            Command::Setup => setup::setup(&ctx).map(|()| ExitCode::SUCCESS),
            Command::Build(b) => build::build(&ctx, &b.labs.labs())
                .and_then(|out| match b.gdb_names {
                    true => gdbnames::ensure(&ctx.root, &out.kernel),
                    false => Ok(()),
                })
                .and_then(|_| match b.host.is_empty() {
                    true => Ok(()),
                    false => build::build_host(&ctx, &b.host).map(|_| ()),
                })
                .map(|()| ExitCode::SUCCESS),
            Command::Qemu(b) => qemu::run(&ctx, b.labs.labs(), b.cpus, false, b.fresh_disk)
                .map(|()| ExitCode::SUCCESS),
            Command::Gdb(b) => qemu::run(&ctx, b.labs.labs(), b.cpus, true, b.fresh_disk)
                .map(|()| ExitCode::SUCCESS),
            Command::Grade(g) => grade(&ctx, &g),
            Command::Fsck(f) => fsck::run(
                &ctx,
                &fsck::image_path(&ctx, f.labs.labs(), f.image.as_deref()),
                f.options(),
            ),
            Command::Merge(m) => batch::merge(&m).map(|all| match all {
                true => ExitCode::SUCCESS,
                false => ExitCode::FAILURE,
            }),
            Command::Ci(c) => ci::run(&ctx, c.quick).map(|()| ExitCode::SUCCESS),
            Command::Bench(opts) => bench::run(&ctx, &opts).map(|ok| {
                if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }),
            Command::Handout(a) => handout::command(&ctx, &a),
            Command::CheckStarters(a) => check_starters::command(&ctx, &a),
            Command::Handin(a) => handin::command(&ctx, &a),
            Command::Gradescope(a) => gradescope::command(&ctx, &a),
            Command::VerifyStarter(a) => verify::command(&ctx, &a),
            Command::Asm(a) => asm::command(&ctx, &a),
        };
    result.unwrap_or_else(|e| {
        eprintln!("xtask: {e}");
        ExitCode::FAILURE
    })
}

/// Builds kernels for the grader the way `build` does.
struct Builder<'a> {
    ctx: &'a Ctx,
}

impl grader::cli::Builder for Builder<'_> {
    fn build(&mut self, features: &[String]) -> Result<grader::cli::Built, String> {
        let labs = labs::LabSet::from_features(features)?;
        let out = build::build(self.ctx, &labs)?;
        Ok(grader::cli::Built {
            kernel: out.kernel,
            fs_img: out.fs_img,
            host: None,
        })
    }

    fn build_host(&mut self, programs: &[String]) -> Result<std::path::PathBuf, String> {
        build::build_host(self.ctx, programs)
    }

    fn gdb_names(&mut self, built: &grader::cli::Built) -> Result<(), String> {
        gdbnames::ensure(&self.ctx.root, &built.kernel)
    }

    fn command(&self) -> String {
        "cargo xtask grade".to_owned()
    }
}

/// Runs the grader (or, with `--submissions`, a batch), which checks for
/// QEMU (a missing one is exit status 2: installing is `setup`'s job) and
/// decides the exit status (0 full marks, 1 below, 2 usage or spec error).
fn grade(ctx: &Ctx, args: &args::GradeCmd) -> Result<ExitCode, String> {
    let known = grader::spec::known_labs(&ctx.root);
    if let Some(opts) = batch::Options::new(&args.grader, &args.batch, &known)? {
        setup::require_qemu()?;
        // Non-zero when a submission was refused, failed to build or could
        // not be graded: the table says which.
        return batch::run(ctx, &opts).map(|all| {
            if all {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        });
    }
    let status = grader::cli::run(&ctx.root, &args.grader, &mut Builder { ctx });
    Ok(ExitCode::from(u8::try_from(status).unwrap_or(1)))
}
