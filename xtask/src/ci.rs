//! `cargo xtask ci`: what CI runs, in order, stopping at the first failure.

use std::process::Command;

use crate::labs::LabSet;
use crate::run::{Ctx, Env, KERNEL_PACKAGE, USER_PACKAGE};
use crate::setup;

/// The checks: formatting, clippy for the host crates, for the kernel in
/// every configuration CI lints and for the user programs, then every test
/// including the slow end-to-end ones.
pub fn steps(ctx: &Ctx) -> Vec<Command> {
    let mut steps = vec![
        ctx.cargo(Env::Host, ["fmt", "--all", "--", "--check"]),
        ctx.cargo(
            Env::Host,
            ["clippy", "--all-targets", "--", "-D", "warnings"],
        ),
    ];
    let deny = ["--", "-D", "warnings"];
    for labs in LabSet::lint_configs() {
        let mut args: Vec<String> = ["clippy"]
            .iter()
            .chain(&KERNEL_PACKAGE)
            .map(|a| a.to_string())
            .collect();
        if let Some(features) = labs.features() {
            args.extend(["--features".to_string(), features]);
        }
        args.extend(deny.map(String::from));
        steps.push(ctx.cargo(Env::Target, args));
    }
    steps.push(ctx.cargo(
        Env::Target,
        ["clippy"].iter().chain(&USER_PACKAGE).chain(&deny),
    ));
    steps.push(ctx.cargo(Env::Host, ["test", "--", "--include-ignored"]));
    steps
}

pub fn run(ctx: &Ctx) -> Result<(), String> {
    // The end-to-end tests boot QEMU and build abitest: set those up first.
    setup::setup(ctx)?;
    for mut step in steps(ctx) {
        ctx.run(&mut step)?;
    }
    eprintln!("ci: all checks passed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::TARGET;
    use std::path::Path;

    #[test]
    fn lints_every_configuration_then_tests() {
        let ctx = Ctx::for_tests(Path::new("/repo"));
        let lines: Vec<String> = steps(&ctx).iter().map(|c| ctx.display(c)).collect();
        assert_eq!(lines[0], "cargo fmt --all -- --check");
        assert_eq!(lines[1], "cargo clippy --all-targets -- -D warnings");
        assert_eq!(
            lines[2],
            format!(
                "cargo clippy -p labs --bin kernel --profile kernel --target {TARGET} -- -D warnings"
            )
        );
        assert!(lines[3].contains("--features trace -- -D warnings"));
        assert!(
            lines[10]
                .contains("--features trace,sysinfo,pgtbl,backtrace,alarm,lazy,cow -- -D warnings")
        );
        assert!(lines[11].starts_with("cargo clippy -p user --profile user"));
        assert_eq!(lines.last().unwrap(), "cargo test -- --include-ignored");
        assert_eq!(lines.len(), 13);
    }
}
