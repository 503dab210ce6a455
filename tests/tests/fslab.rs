//! The fs lab (large files, symbolic links): a crash trial on its kernel
//! with big files and symbolic links leaves a disk that is consistent as
//! left and after the kernel's recovery. (The reference's full marks on
//! the lab's own kernel: documented.rs's `grade --all`; on every lab's
//! kernel: grading.rs.)

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tests::build;
use tests::disk::Disk;

/// The lines of `console` without their tokens, trimmed.
fn has_line(console: &str, want: &str) -> bool {
    console
        .lines()
        .any(|l| l.split(" #t:").next().unwrap_or(l).trim_end() == want)
}

/// Links that stay (to a file, to a link, to nothing); a crash inside a
/// big file's doubly-indirect blocks (clean as left, and after recovery
/// and `rm` every block is back); a crash while four processes make and
/// remove links (clean as left); then the links still lead where they
/// did, symlinktest passes again, and the disk is clean.
#[test]
#[ignore = "slow: crashes in bigfile and symlinktest"]
fn crashes_with_big_files_and_symlinks_leave_a_clean_disk() {
    use mkfs::check::Options;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let seed = u64::from(nanos.subsec_nanos()) % 1_000_000 + 1;
    let config = build("fs");
    let readme = std::fs::read(&config.fs_img).unwrap();
    let readme = mkfs::Image::open(&readme)
        .unwrap()
        .read_file("README")
        .unwrap();
    let first = String::from_utf8_lossy(&readme)
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap()
        .trim_end()
        .to_owned();

    let disk = Disk::copy_of(&config);
    let links = ["ln -s /README rl", "ln -s rl rl2", "ln -s /nothing dangle"];
    let boot = disk.boot(
        1,
        &[&links[..], &["cat rl2"]].concat(),
        Duration::from_secs(60),
    );
    boot.assert_finished("ln -s");
    assert!(
        has_line(&boot.console, &first),
        "cat rl2:\n{}",
        boot.console
    );
    disk.assert_clean("after ln -s");
    let img = std::fs::read(disk.path()).unwrap();
    let image = mkfs::Image::open(&img).unwrap();
    for (name, target) in [("rl", "/README"), ("rl2", "rl"), ("dangle", "/nothing")] {
        let inum = image.lookup(name).unwrap();
        assert_eq!(image.inode(inum).unwrap().typ, abi::filetype::T_SYMLINK);
        assert_eq!(image.read(inum).unwrap(), target.as_bytes(), "{name}");
    }
    let before = disk.check(Options::default()).blocks_used;

    // Past the direct and singly-indirect blocks (a few seconds in).
    let big = format!("big.{seed}");
    let crash = disk.crash(
        1,
        &format!("bigfile {seed}"),
        &format!("writing {big}"),
        Duration::from_secs(8),
        Duration::from_secs(120),
    );
    assert!(
        !matches!(crash.end, grader::qemu::End::Panic { .. }),
        "{}",
        crash.console
    );
    let crashed = Options {
        crashed: true,
        ..Options::default()
    };
    let left = disk.check(crashed);
    assert!(left.is_clean(), "as the crash in bigfile left it: {left}");
    assert!(
        left.blocks_used > before + 300,
        "the crash came before the doubly-indirect blocks: {left}"
    );
    let reboot = disk.boot(1, &[&format!("rm {big}")], Duration::from_secs(120));
    reboot.assert_finished("rm");
    let recovered = disk.check(Options::default());
    assert!(recovered.is_clean(), "after recovery: {recovered}");
    assert_eq!(recovered.blocks_used, before, "rm left blocks: {recovered}");

    // Some hundreds of milliseconds into the concurrent links.
    let crash = disk.crash(
        1,
        &format!("symlinktest {seed}"),
        "Start: test concurrent symlinks",
        Duration::from_millis(100 + seed % 500),
        Duration::from_secs(60),
    );
    assert!(
        !matches!(crash.end, grader::qemu::End::Panic { .. }),
        "{}",
        crash.console
    );
    let left = disk.check(crashed);
    assert!(
        left.is_clean(),
        "as the crash in symlinktest left it: {left}"
    );

    let again = seed + 1;
    let reboot = disk.boot(
        1,
        &["cat rl2", &format!("symlinktest {again}"), "cat dangle"],
        Duration::from_secs(120),
    );
    reboot.assert_finished("symlinktest after the crashes");
    assert!(has_line(&reboot.console, &first), "{}", reboot.console);
    for line in ["test symlinks: ok", "test concurrent symlinks: ok"] {
        assert!(
            has_line(&reboot.console, line),
            "no `{line}`:\n{}",
            reboot.console
        );
    }
    disk.assert_clean("after the crashes and symlinktest");
}
