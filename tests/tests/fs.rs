//! The file system against adversarial programs and crashes: every call
//! gets its error, the kernel never panics, and the disk that is left,
//! checked with `mkfs::check` after QEMU stops, is consistent.

use std::time::Duration;

use tests::build;
use tests::disk::Disk;

#[test]
fn the_images_mkfs_writes_are_clean() {
    let config = build("");
    let bytes = std::fs::read(&config.fs_img).unwrap();
    let r = mkfs::check::check(&bytes, mkfs::check::Options::default());
    assert!(r.is_clean(), "{}: {r}", config.fs_img.display());
}

/// Runs `fsattack` cases on a fresh disk, each expected to print
/// `fsattack <case>: OK`, then checks the disk.
fn attack(cpus: u32, cases: &[&str], limit: Duration) {
    let disk = Disk::copy_of(&build(""));
    let commands: Vec<String> = cases.iter().map(|c| format!("fsattack {c}")).collect();
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    let boot = disk.boot(cpus, &commands, limit);
    boot.assert_finished("fsattack");
    for case in cases {
        let name = case.split(' ').next().unwrap();
        let ok = format!("fsattack {name}: OK");
        assert!(
            boot.console.lines().any(|l| l.trim_end() == ok),
            "no `{ok}` on {cpus} hart(s); console:\n{}",
            boot.console
        );
    }
    disk.assert_clean(&format!("after {cases:?} on {cpus} hart(s)"));
}

/// A full inode table, a removed current directory, directories removed
/// while other processes create in them, and writes from bad addresses.
const QUICK_CASES: [&str; 4] = ["itable", "deadcwd", "rmrace 300", "badwrite"];

#[test]
fn refused_calls_leave_nothing_on_disk_on_one_hart() {
    attack(1, &QUICK_CASES, Duration::from_secs(120));
}

#[test]
fn refused_calls_leave_nothing_on_disk_on_three_harts() {
    attack(3, &QUICK_CASES, Duration::from_secs(120));
}

#[test]
#[ignore = "slow: 32,767 links and as many unlinks, on 1 and 3 harts"]
fn link_counts_stop_at_their_limit() {
    for cpus in [1, 3] {
        attack(cpus, &["links"], Duration::from_secs(1500));
    }
}
