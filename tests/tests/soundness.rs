//! The lab API is sound: safe code in a lab file cannot corrupt the kernel.
//!
//! Compile-time properties are checked by compiling lab files that try the
//! unsound thing in a scratch copy of the kernel crates (`cargo check`, no
//! build): each must be refused, for the reason given, while a control
//! file using the same API soundly compiles. Run-time properties are
//! checked by booting a kernel built in that scratch copy with probe lab
//! files: leaked clones stop at a panic naming the overflow before a count
//! can wrap, `dump` does not read state under another holder's lock, and a
//! pgtbl mirror update that never unmaps or remaps (a plausible student
//! bug) still cannot show one process another's memory.

use std::path::{Path, PathBuf};

use tests::{Config, Scenario, build, cargo, root, run, target_dir};

use tests::{KERNEL_PACKAGE, TARGET};

/// Every lab at once (`build("all")`).
const ALL: &str = "all";

/// A copy of the kernel's crates (abi, kernel-base, labs) as a workspace of
/// their own, kept under the target directory between runs so that cargo
/// recompiles only what a test changes. Files are rewritten only when they
/// differ (mtimes are what cargo compares).
fn scratch(name: &str) -> PathBuf {
    let dir = target_dir().join("soundness").join(name);
    let root = root();
    for krate in ["abi", "kernel-base", "labs"] {
        sync_dir(&root.join(krate), &dir.join(krate));
    }
    for file in ["Cargo.lock", "rust-toolchain.toml", ".cargo/config.toml"] {
        sync_file(&root.join(file), &dir.join(file));
    }
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let manifest: String = manifest
        .lines()
        .filter(|l| !l.starts_with("default-members"))
        .map(|l| {
            if l.starts_with("members") {
                r#"members = ["abi", "kernel-base", "labs"]"#
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    write_if_changed(&dir.join("Cargo.toml"), manifest.as_bytes());
    dir
}

fn sync_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            sync_dir(&path, &dest);
        } else {
            sync_file(&path, &dest);
        }
    }
}

fn sync_file(from: &Path, to: &Path) {
    write_if_changed(to, &std::fs::read(from).unwrap());
}

fn write_if_changed(path: &Path, bytes: &[u8]) {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return;
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Cargo in the scratch workspace, with its own target directory.
fn scratch_cargo(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut c = cargo(args);
    c.current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"));
    c
}

fn lab_file(lab: &str) -> String {
    std::fs::read_to_string(root().join("labs/src").join(format!("{lab}.rs"))).unwrap()
}

/// `text` with `from` replaced by `to`, which must be there.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the lab file changed: no `{from}` to edit"
    );
    text.replacen(from, to, 1)
}

/// Lab code that must not compile, and what the compiler must say.
struct Refused {
    what: &'static str,
    code: &'static str,
    error: &'static str,
}

const REFUSED: &[Refused] = &[
    Refused {
        what: "calling the kernel's entry point again",
        code: "static NO_LABS: &[&dyn kernel_base::hooks::Lab] = &[];
               pub fn boot_again() -> ! { kernel_base::main(&NO_LABS) }",
        error: "E0133",
    },
    Refused {
        what: "pointing an Inode at another inode",
        code: "pub fn retarget(ip: &mut kernel_base::fs::Inode) { ip.inum = 2; }",
        error: "E0616",
    },
    Refused {
        what: "ending a log operation that was never begun",
        code: "pub fn end_twice() { kernel_base::log::end_op(); }",
        error: "E0061",
    },
    Refused {
        what: "making a log-operation token without begin_op",
        code: "pub fn forge() { kernel_base::log::end_op(kernel_base::log::LogOp { _private: () }); }",
        error: "E0451",
    },
    Refused {
        what: "closing a pipe end that open files still use",
        code: "pub fn close_early() {
                   if let Some((r, _w)) = kernel_base::pipe::Pipe::alloc() {
                       if let kernel_base::file::FileKind::Pipe(p) = r.kind() { p.close(false); }
                   }
               }",
        error: "E0624",
    },
    Refused {
        what: "unpinning a buffer the log never pinned",
        code: "pub fn unpin(b: &kernel_base::bio::Buf) { b.unpin(); }",
        error: "E0624",
    },
    Refused {
        what: "writing a cached block past the log",
        code: "pub fn write(b: &mut kernel_base::bio::Buf) { b.write(); }",
        error: "E0624",
    },
    Refused {
        what: "disk DMA into a stack buffer (its address is not physical)",
        code: "pub fn dma() { let mut d = [0u8; 1024]; kernel_base::virtio_disk::rw(&mut d, 1, false); }",
        error: "E0603",
    },
    Refused {
        what: "sharing a spinlock guard of a !Sync value",
        code: "fn shared<T: Sync>() {}
               pub fn guard() { shared::<kernel_base::spinlock::SpinLockGuard<'static, core::cell::Cell<u8>>>(); }",
        error: "E0277",
    },
    Refused {
        what: "sharing a sleep-lock guard of a !Sync value",
        code: "fn shared<T: Sync>() {}
               pub fn guard() { shared::<kernel_base::sleeplock::SleepLockGuard<'static, core::cell::Cell<u8>>>(); }",
        error: "E0277",
    },
    Refused {
        what: "unsafe code in a lab file that needs none",
        code: "pub fn peek() -> u8 { unsafe { *(0x8000_0000 as *const u8) } }",
        error: "unsafe_code",
    },
];

/// What a control file adds: the same API, used soundly.
const ALLOWED: &str = "
pub fn inode_number(ip: &kernel_base::fs::Inode) -> u32 {
    let op = kernel_base::log::begin_op();
    let n = ip.inum() + ip.dev();
    kernel_base::log::end_op(op);
    n
}
pub fn guard_of_sync() {
    fn shared<T: Sync>() {}
    shared::<kernel_base::spinlock::SpinLockGuard<'static, u8>>();
}
";

#[test]
fn unsound_uses_of_the_lab_api_do_not_compile() {
    let dir = scratch("check");
    let original = lab_file("trace");
    let trace = dir.join("labs/src/trace.rs");
    let check = |extra: &str| {
        write_if_changed(&trace, format!("{original}\n{extra}\n").as_bytes());
        run(scratch_cargo(
            &dir,
            &[
                "check",
                "-q",
                "-p",
                "labs",
                "--bin",
                "kernel",
                "--target",
                TARGET,
                "--features",
                "trace",
            ],
        ))
    };
    let (out, _, stderr) = check(ALLOWED);
    assert!(
        out.status.success(),
        "the control lab file does not compile:\n{stderr}"
    );
    let mut wrong = Vec::new();
    for case in REFUSED {
        let (out, _, stderr) = check(case.code);
        if out.status.success() {
            wrong.push(format!("{}: compiles", case.what));
        } else if !stderr.contains(case.error) {
            wrong.push(format!(
                "{}: refused, but not with {}:\n{stderr}",
                case.what, case.error
            ));
        }
    }
    write_if_changed(&trace, original.as_bytes());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The probe lab, in place of sysinfo's file: leaks clones of a File when
/// `echo` starts and of an Inode when `wc` starts (each must end in a panic
/// naming the overflow), and dumps the process list from the fork hook of
/// `pingpong`, which runs with the child's lock held.
const PROBE: &str = r#"
#![forbid(unsafe_code)]
use kernel_base::hooks::Lab;
use kernel_base::proc::Proc;
use kernel_base::vm::UserMemory;

pub struct Sysinfo;

/// More references than any real count reaches (and far fewer than 2^32).
const LEAKS: u32 = 100_000;

impl Lab for Sysinfo {
    fn name(&self) -> &'static str {
        "probe"
    }

    fn exec(&self, p: &Proc, _mem: &UserMemory<'_>) {
        match p.name().as_str() {
            "echo" => {
                let (r, w) = kernel_base::pipe::Pipe::alloc().expect("no pipe");
                for _ in 0..LEAKS {
                    core::mem::forget(r.clone());
                }
                kernel_base::println!("probe: {} File clones leaked", LEAKS);
                core::mem::forget((r, w));
            }
            "wc" => {
                let ip = kernel_base::fs::iget(abi::param::ROOTDEV, 1);
                for _ in 0..LEAKS {
                    core::mem::forget(ip.clone());
                }
                kernel_base::println!("probe: {} Inode clones leaked", LEAKS);
                core::mem::forget(ip);
            }
            _ => {}
        }
    }

    fn fork(&self, parent: &Proc, child: &Proc) {
        if parent.name().as_str() == "pingpong" {
            kernel_base::println!("probe: dump with child {} locked", child.pid());
            kernel_base::proc::dump();
        }
    }
}
"#;

/// pgtbl's file with a mirror update that maps pages the mirror lacks and
/// never unmaps or remaps one.
fn lazy_mirror() -> String {
    let text = lab_file("pgtbl");
    let text = edit(
        &text,
        "Some(pte) if pte.flags() & PTE_U != 0 =>",
        "Some(pte) if pte.flags() & PTE_U != 0 && mirror.kernel_pte(va).is_none() =>",
    );
    edit(&text, "_ => mirror.unmap(va),", "_ => {}")
}

/// Builds the probe kernel (sysinfo's file replaced by the probe, pgtbl's by
/// the lazy mirror) in the scratch workspace; the file system image is the
/// ordinary one (the same user programs).
fn probe_kernel() -> Config {
    let dir = scratch("probe");
    write_if_changed(&dir.join("labs/src/sysinfo.rs"), PROBE.as_bytes());
    write_if_changed(&dir.join("labs/src/pgtbl.rs"), lazy_mirror().as_bytes());
    let (out, stdout, stderr) = run(scratch_cargo(
        &dir,
        &[
            &["build", "-q"][..],
            &KERNEL_PACKAGE,
            &["--features", "sysinfo,pgtbl"],
        ]
        .concat(),
    ));
    assert!(
        out.status.success(),
        "the probe kernel does not build:\n{stdout}{stderr}"
    );
    Config {
        kernel: dir.join("target").join(TARGET).join("kernel/kernel"),
        fs_img: build("").fs_img,
    }
}

const PROBE_SPEC: &str = r#"
name = "soundness"
timeout = "60s"
# The probes are kernel test programs, not tokened.
untrusted = true

[[run]]
id = "stalemap"
commands = ["stalemap"]

[[run]]
id = "dump"
commands = ["pingpong"]

[[run]]
id = "file"
commands = ["echo hello"]

[[run]]
id = "inode"
commands = ["wc README"]

[[test]]
name = "a lazy mirror update shows no other process's memory"
points = 1
run = "stalemap"
match = '^stalemap: ok$'
no_match = ['FAIL', '^panic: ']

[[test]]
name = "dump shows a process whose lock is held as locked"
points = 1
run = "dump"
match = ' locked pingpong$'

[[test]]
name = "leaked File clones stop at a panic"
points = 1
run = "file"
match = '^panic: file reference count overflow'

[[test]]
name = "leaked Inode clones stop at a panic"
points = 1
run = "inode"
match = '^panic: inode reference count overflow'
"#;

#[test]
fn safe_lab_code_cannot_wrap_counts_read_locked_state_or_leave_stale_mirrors() {
    let config = probe_kernel();
    let s = Scenario::with_text("soundness", PROBE_SPEC);
    let (_, stdout, stderr) = s.grade(&config, &[]);
    let mut wrong = Vec::new();
    let stalemap = s.log("stalemap");
    if !stalemap.lines().any(|l| l == "stalemap: ok") {
        wrong.push(format!(
            "a stale mirror entry showed another process's memory:\n{stalemap}"
        ));
    }
    let dump = s.log("dump");
    if !dump.lines().any(|l| l.ends_with(" locked pingpong")) {
        wrong.push(format!("dump read a process whose lock was held:\n{dump}"));
    }
    for (id, what) in [("file", "file"), ("inode", "inode")] {
        let log = s.log(id);
        let expected = format!("panic: {what} reference count overflow");
        if !log.lines().any(|l| l.starts_with(&expected)) {
            wrong.push(format!(
                "leaked {what} clones did not stop at an overflow panic:\n{log}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{}\n(grader: {stdout}{stderr})",
        wrong.join("\n")
    );
}

/// The reference pgtbl lab passes stalemap too (the kernel's own checks
/// leave a correct mirror alone), with lazy and cow changing the pages
/// under it, as does the base kernel (the configurations other quick tests
/// build).
#[test]
fn a_freed_page_reads_as_zeros_with_and_without_pgtbl() {
    let spec = r#"
name = "stalemap"
timeout = "60s"
untrusted = true

[[run]]
id = "stalemap"
commands = ["stalemap"]

[[test]]
name = "stalemap"
points = 1
run = "stalemap"
match = '^stalemap: ok$'
no_match = ['FAIL', '^panic: ']
"#;
    for labs in ["", ALL] {
        let s = Scenario::with_text("stalemap", spec);
        let (out, stdout, stderr) = s.grade(&build(labs), &[]);
        assert!(
            out.status.success(),
            "stalemap failed on {labs:?}:\n{stdout}{stderr}"
        );
    }
}
