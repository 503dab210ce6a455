//! The fs lab (large files): the reference scores full marks, the disk is
//! consistent after bigfile and after a crash in the middle of it (and the
//! kernel's recovery), and the base kernel's files stop where xv6's do.
//! Each boot writes a 65,803-block file (about a minute under QEMU), so
//! these are slow.

use std::time::Duration;
use tests::disk::Disk;
use tests::{build, run, xtask};

#[test]
#[ignore = "slow: bigfile and usertests -q"]
fn fs_lab_reference_full_marks() {
    let (out, stdout, stderr) = run(xtask(&["grade", "lab-fs"]));
    tests::assert_full_marks(&out, &stdout, &stderr);
    assert!(stdout.contains("Score: 59/59"), "{stdout}");
}

/// bigfile on a writable disk: the 65,803-block file is written, read back
/// and removed, and fsck then finds the disk clean (its doubly-indirect
/// blocks all freed). Then a crash while another bigfile is writing: the
/// image as left (log replayed by the checker) and after the kernel's
/// recovery must be clean, and the half-written file's blocks all
/// accounted for.
#[test]
#[ignore = "slow: two bigfile boots"]
fn bigfile_and_a_crash_in_it_leave_a_clean_disk() {
    use mkfs::check::Options;
    let disk = Disk::copy_of(&build("fs"));
    let boot = disk.boot(1, &["bigfile 5"], Duration::from_secs(600));
    boot.assert_finished("bigfile");
    for line in ["wrote 65803 blocks", "bigfile done; ok"] {
        assert!(
            boot.console.lines().any(|l| l.trim_end() == line),
            "no `{line}`:\n{}",
            boot.console
        );
    }
    disk.assert_clean("after bigfile");
    let before = disk.check(Options::default()).blocks_used;

    // Past the direct and singly-indirect blocks (a few seconds in).
    let crash = disk.crash(
        1,
        "bigfile 6",
        "writing big.6",
        Duration::from_secs(8),
        Duration::from_secs(120),
    );
    assert!(
        !matches!(crash.end, grader::qemu::End::Panic { .. }),
        "{}",
        crash.console
    );
    let left = disk.check(Options {
        crashed: true,
        ..Options::default()
    });
    assert!(left.is_clean(), "as left by the crash: {left}");
    assert!(
        left.blocks_used > before + 300,
        "the crash came before the doubly-indirect blocks: {left}"
    );
    let reboot = disk.boot(1, &["rm big.6"], Duration::from_secs(120));
    reboot.assert_finished("rm big.6");
    let recovered = disk.check(Options::default());
    assert!(recovered.is_clean(), "after recovery: {recovered}");
    assert_eq!(recovered.blocks_used, before, "rm left blocks: {recovered}");
}
