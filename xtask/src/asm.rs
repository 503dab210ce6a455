//! `cargo xtask asm PROGRAM...`: a user program's disassembly with its
//! source lines (`target/xv6/user/<P>.asm`, as `kernel.asm` is the
//! kernel's), and its ELF with symbols (`target/xv6/user/<P>`), for gdb's
//! `add-symbol-file`.
//!
//! The programs on the disk are stripped to fit it. These are linked again
//! with their symbols and debug information: the same profile (which
//! compiles with debug information), only without the linker's
//! `--strip-all` (user/build.rs, `XV6_USER_SYMBOLS`), in a target directory
//! of their own so that neither build undoes the other's. So their code, and
//! every address in it, is the code the disk runs.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::build;
use crate::fsutil;
use crate::listing;
use crate::run::{Ctx, Env, TARGET, USER_PACKAGE};
use crate::setup;

/// Where the programs with symbols are built, under the target directory.
const TARGET_SUBDIR: &str = "user-sym";

#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct Args {
    /// User programs (user/src/bin/<P>.rs), e.g. call
    #[arg(value_name = "P", required = true)]
    pub programs: Vec<String>,
}

/// Where the ELF of program `p` with its symbols is.
pub fn elf_path(ctx: &Ctx, p: &str) -> PathBuf {
    ctx.xv6_dir().join("user").join(p)
}

/// Where the listing of program `p` goes.
pub fn listing_path(ctx: &Ctx, p: &str) -> PathBuf {
    ctx.xv6_dir().join("user").join(format!("{p}.asm"))
}

pub fn command(ctx: &Ctx, args: &Args) -> Result<ExitCode, String> {
    setup::ensure_target(ctx)?;
    let known = build::user_programs(&ctx.root.join("user/src/bin"))?;
    if let Some(p) = args.programs.iter().find(|p| !known.contains(p)) {
        return Err(format!(
            "no user program {p}: the programs are the files of user/src/bin ({})",
            known.join(", ")
        ));
    }
    let Some(dis) = setup::disassembler(ctx) else {
        return Err("no llvm-objdump (rustup component add llvm-tools) or \
                    riscv64-linux-gnu-objdump (Debian: binutils-riscv64-linux-gnu): \
                    install one to disassemble"
            .into());
    };
    let mut cargo_args: Vec<String> = ["build"]
        .iter()
        .chain(&USER_PACKAGE)
        .map(|a| a.to_string())
        .collect();
    for p in &args.programs {
        cargo_args.extend(["--bin".into(), p.clone()]);
    }
    let target_dir = ctx.target_dir.join(TARGET_SUBDIR);
    let mut cmd = ctx.cargo(Env::Target, cargo_args);
    cmd.env("CARGO_TARGET_DIR", &target_dir)
        .env("XV6_USER_SYMBOLS", "1");
    ctx.run(&mut cmd)
        .map_err(|_| "building the user programs failed (cargo's errors are above)".to_string())?;
    let built = target_dir.join(TARGET).join("user");
    for p in &args.programs {
        let out = listing_path(ctx, p);
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let elf = elf_path(ctx, p);
        fsutil::copy(&built.join(p), &elf)?;
        listing::disassemble(ctx, &dis, &elf, &out)
            .map_err(|e| format!("{} not written: {e}", ctx.show(&out)))?;
        println!("{p}: {} (disassembly with source lines)", ctx.show(&out));
        println!(
            "{p}: {} (symbols for gdb: add-symbol-file {})",
            ctx.show(&elf),
            ctx.show(&elf)
        );
    }
    Ok(ExitCode::SUCCESS)
}
