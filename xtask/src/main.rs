//! `cargo xtask`: sets the machine up, builds the kernel, user programs and
//! file system image of a lab configuration, boots them in QEMU (with or
//! without gdb), grades a lab, and runs the CI checks. `cargo xtask help`
//! lists the commands.

mod args;
mod batch;
mod bench;
mod build;
mod check_starters;
mod ci;
mod frames;
mod fsck;
mod fsutil;
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
    let command = match args::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xtask: {e}");
            eprintln!("`cargo xtask help` lists the commands and options");
            return ExitCode::from(2);
        }
    };
    let ctx = match Ctx::new() {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("xtask: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command {
        Command::Help => {
            println!("{}", labs::fill(args::USAGE));
            Ok(ExitCode::SUCCESS)
        }
        Command::Setup => setup::setup(&ctx).map(|()| ExitCode::SUCCESS),
        Command::Build { labs, host } => build::build(&ctx, &labs)
            .and_then(|_| match host.is_empty() {
                true => Ok(()),
                false => build::build_host(&ctx, &host).map(|_| ()),
            })
            .map(|()| ExitCode::SUCCESS),
        Command::Qemu {
            labs,
            cpus,
            gdb,
            fresh_disk,
        } => qemu::run(&ctx, labs, cpus, gdb, fresh_disk).map(|()| ExitCode::SUCCESS),
        Command::Grade { args } => grade(&ctx, &args),
        Command::Fsck { labs, image, opts } => {
            fsck::run(&ctx, &fsck::image_path(&ctx, labs, image.as_deref()), opts)
        }
        Command::Ci { quick } => ci::run(&ctx, quick).map(|()| ExitCode::SUCCESS),
        Command::Bench(opts) => bench::run(&ctx, &opts).map(|ok| {
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }),
        Command::Handout { args } => handout::command(&ctx, &args),
        Command::CheckStarters { args } => check_starters::command(&ctx, &args),
        Command::Handin { args } => handin::command(&ctx, &args),
        Command::Gradescope { args } => gradescope::command(&ctx, &args),
        Command::VerifyStarter { args } => verify::command(&ctx, &args),
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

    fn command(&self) -> String {
        "cargo xtask grade".to_owned()
    }

    fn usage_name(&self) -> String {
        "cargo xtask grade".to_owned()
    }

    fn extra_help(&self) -> String {
        args::GRADE_HELP.to_owned()
    }
}

/// Runs the grader, which reads its own arguments, checks for QEMU (a
/// missing one is exit status 2: installing is `setup`'s job) and decides
/// the exit status (0 full marks, 1 below, 2 usage or spec error).
fn grade(ctx: &Ctx, args: &[OsString]) -> Result<ExitCode, String> {
    if let Some(opts) = batch::parse(args)? {
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
    let status = grader::cli::run(&ctx.root, args, &mut Builder { ctx });
    Ok(ExitCode::from(u8::try_from(status).unwrap_or(1)))
}
