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

/// `cargo xtask fsck` and `mkfs --check`: exit status 0 and `clean` for a
/// good image, 1 and the problem for a damaged one, 2 for no image.
#[test]
fn the_fsck_commands_report_clean_and_damaged_images() {
    let config = build("");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.img");
    let mut img = std::fs::read(&config.fs_img).unwrap();
    // The root directory's link count (inode 1, at byte 6 of its 64).
    let sb = abi::fs::SuperBlock::decode(&img[abi::fs::BSIZE..2 * abi::fs::BSIZE]);
    let at = sb.inodestart as usize * abi::fs::BSIZE + 64 + 6;
    img[at] = 7;
    std::fs::write(&bad, &img).unwrap();
    let good = config.fs_img.to_str().unwrap();
    let bad = bad.to_str().unwrap();
    let mkfs = |args: &[&str]| {
        let mut all = vec!["run", "-q", "-p", "mkfs", "--", "--check"];
        all.extend_from_slice(args);
        tests::run(tests::cargo(&all))
    };
    for (out, stdout, stderr) in [tests::run(tests::xtask(&["fsck", good])), mkfs(&[good])] {
        assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
        assert!(stdout.contains(": clean: "), "{stdout}");
    }
    for (out, stdout, stderr) in [
        tests::run(tests::xtask(&["fsck", "--no-replay", bad])),
        mkfs(&["--crashed", bad]),
    ] {
        assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
        assert!(
            stdout.contains("1 problem: ")
                && stdout.contains("inode 1: nlink is 7 but 1 entry names it"),
            "{stdout}"
        );
    }
    let (out, ..) = mkfs(&[]);
    assert_eq!(out.status.code(), Some(2));
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

/// Many links to one file, 700 to a directory, all unlinked again: the
/// file and the directories go and the disk is clean.
#[test]
#[ignore = "slow: 2,000 links and as many unlinks"]
fn many_links_come_and_go_cleanly() {
    attack(3, &["links 2000"], Duration::from_secs(600));
}

/// A fresh disk on which README's link count is `nlink`, and README's
/// inode number.
fn disk_with_readme_nlink(nlink: i16) -> (Disk, u32) {
    use abi::fs::{BSIZE, DiskInode, SuperBlock};
    let disk = Disk::copy_of(&build(""));
    let mut img = std::fs::read(disk.path()).unwrap();
    let inum = mkfs::Image::open(&img).unwrap().lookup("README").unwrap();
    let sb = SuperBlock::decode(&img[BSIZE..2 * BSIZE]);
    let at = sb.inode_block(inum) as usize * BSIZE + DiskInode::offset_in_block(inum);
    let mut din = DiskInode::decode(&img[at..at + DiskInode::SIZE]);
    din.nlink = nlink;
    din.encode(&mut img[at..at + DiskInode::SIZE]);
    std::fs::write(disk.path(), &img).unwrap();
    (disk, inum)
}

/// README's link count set on the host one below the largest i16 (making
/// 32,766 real links takes minutes): one more `ln` works, the next is
/// refused, and after `rm` the count is back where it was, no name left.
#[test]
fn a_link_count_stops_at_its_limit() {
    let (disk, inum) = disk_with_readme_nlink(i16::MAX - 1);

    let boot = disk.boot(
        3,
        &[
            "ln README top",
            "ln README over",
            "rm top",
            "echo still here",
        ],
        Duration::from_secs(60),
    );
    boot.assert_finished("rm top");
    let c = &boot.console;
    assert!(
        !c.contains("link README top: failed")
            && c.contains("link README over: failed")
            && !c.contains("rm: top failed")
            && c.contains("still here"),
        "{c}"
    );
    let r = disk.check(mkfs::check::Options::default());
    assert_eq!(
        r.problems,
        [mkfs::check::Problem::LinkCount {
            inum,
            nlink: i16::MAX - 1,
            entries: 1
        }],
        "{r}"
    );
}

/// A disk on which an older kernel wrapped a link count negative (32,768
/// links): unlinking the file is refused, not a panic, and the damage is
/// left as it was.
#[test]
fn a_wrapped_link_count_on_disk_is_refused_not_a_panic() {
    let (disk, inum) = disk_with_readme_nlink(i16::MIN);

    let boot = disk.boot(
        1,
        &["rm README", "echo still here"],
        Duration::from_secs(60),
    );
    boot.assert_finished("rm README");
    assert!(
        boot.console.contains("rm: README failed to delete") && boot.console.contains("still here"),
        "{}",
        boot.console
    );
    let r = disk.check(mkfs::check::Options::default());
    assert_eq!(
        r.problems,
        [mkfs::check::Problem::LinkCount {
            inum,
            nlink: i16::MIN,
            entries: 1
        }],
        "{r}"
    );
}

/// A number from `seed` (splitmix64), to pick a trial's moment of death.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Crash trials: on a fresh disk, `crashload SEED` (stressfs, big files,
/// link/unlink loops, open unlinked files, concurrent creates) runs until
/// QEMU is killed at a moment drawn from the seed; the image is checked
/// as it was left (the checker replays the log), then booted again so the
/// kernel recovers, and checked strictly. `FSCRASH_TRIALS` and
/// `FSCRASH_SEED` (the first seed) change the trials; the report goes to
/// `<target>/fscrash/report.txt`.
#[test]
#[ignore = "slow: crash trials"]
fn the_disk_is_consistent_after_crashes_at_random_moments() {
    use mkfs::check::{Options, Problem};
    let config = build("");
    let trials = env_number("FSCRASH_TRIALS", 12);
    let first = env_number("FSCRASH_SEED", 1);
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    for seed in first..first + trials {
        let cpus = if seed % 2 == 0 { 3 } else { 1 };
        let after = Duration::from_millis(100 + mix(seed) % 5000);
        let disk = Disk::copy_of(&config);
        let crash = disk.crash(
            cpus,
            &format!("crashload {seed}"),
            "crashload: starting",
            after,
            Duration::from_secs(120),
        );
        if let grader::qemu::End::Panic { line } = &crash.end {
            failures.push(format!("seed {seed}: {line}"));
            continue;
        }
        let raw = disk.check(Options {
            no_replay: true,
            crashed: true,
        });
        let pending = raw.problems.iter().find_map(|p| match p {
            Problem::PendingLog { blocks } => Some(*blocks),
            _ => None,
        });
        let left = disk.check(Options {
            crashed: true,
            ..Options::default()
        });
        let reboot = disk.boot(cpus, &["echo recovered"], Duration::from_secs(120));
        let recovered = disk.check(Options::default());
        let freed = reboot.console.matches("fs: freed inode").count();
        let verdict = |r: &mkfs::check::Report| {
            if r.is_clean() {
                "clean".to_owned()
            } else {
                format!("{} problems", r.problems.len())
            }
        };
        lines.push(format!(
            "seed {seed:3}: {cpus} hart(s), killed {:5} ms into crashload; log: {}; \
             unlinked open files: {}; as left (log replayed by the checker): {}; \
             after the kernel's recovery: {} ({freed} freed at boot), {} inodes, {} blocks",
            after.as_millis(),
            pending.map_or("empty".to_owned(), |n| format!("{n} blocks committed")),
            left.notes.iter().filter(|n| n.contains("no links")).count(),
            verdict(&left),
            verdict(&recovered),
            recovered.inodes_used,
            recovered.blocks_used,
        ));
        if !left.is_clean() {
            failures.push(format!("seed {seed}: as left by the crash: {left}"));
        }
        if reboot.end != grader::qemu::End::Finished || !recovered.is_clean() {
            failures.push(format!(
                "seed {seed}: after recovery ({:?}): {recovered}\n{}",
                reboot.end, reboot.console
            ));
        }
    }
    let report = format!(
        "crash trials: {trials}, {} failed\n{}\n",
        failures.len(),
        lines.join("\n")
    );
    let dir = tests::target_dir().join("fscrash");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("report.txt"), &report).unwrap();
    eprintln!("{report}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Full usertests on a writable copy of the disk of `labs`' kernel, then
/// the disk must be clean. An image larger than xv6's (the fs lab's) is
/// made again at 4,000 blocks in its layout: diskfull fills the disk, and
/// 200,000 blocks take minutes to fill (the lab grades `usertests -q`,
/// without diskfull, on the full size).
fn usertests_leave_a_clean_disk(labs: &str, cpus: u32) {
    let config = build(labs);
    let big = std::fs::metadata(&config.fs_img).unwrap().len() > 4_000 * 1024;
    let disk = if big {
        Disk::resized_copy_of(&config, 4_000)
    } else {
        Disk::copy_of(&config)
    };
    let boot = disk.boot(cpus, &["usertests"], Duration::from_secs(1500));
    boot.assert_finished("usertests");
    assert!(
        boot.console
            .lines()
            .any(|l| l.trim_end() == "ALL TESTS PASSED"),
        "usertests failed on {cpus} hart(s) with labs `{labs}`:\n{}",
        boot.console
    );
    disk.assert_clean("after usertests");
}

/// Every lab at once (`build("all")`).
const ALL: &str = "all";

#[test]
#[ignore = "slow: full usertests"]
fn usertests_leave_a_clean_disk_on_three_harts() {
    usertests_leave_a_clean_disk("", 3);
}

#[test]
#[ignore = "slow: full usertests"]
fn usertests_with_every_lab_leave_a_clean_disk_on_one_hart() {
    usertests_leave_a_clean_disk(ALL, 1);
}

#[test]
#[ignore = "slow: full usertests"]
fn usertests_with_every_lab_leave_a_clean_disk_on_three_harts() {
    usertests_leave_a_clean_disk(ALL, 3);
}

#[test]
#[ignore = "slow: a minute of grind"]
fn grind_leaves_a_clean_disk() {
    let disk = Disk::copy_of(&build(""));
    let boot = disk.boot(3, &["grind 60 7"], Duration::from_secs(600));
    boot.assert_finished("grind");
    if let Err(e) = tests::grind_iterations(&boot.console) {
        panic!("{e}:\n{}", boot.console);
    }
    disk.assert_clean("after grind");
}
