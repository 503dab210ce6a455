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
        what: "minting a free Page from an address",
        code: "pub fn mint() -> kernel_base::kalloc::Page {
                   kernel_base::kalloc::Page(core::ptr::NonNull::dangling())
               }",
        error: "E0603",
    },
    Refused {
        what: "minting a free Page through the allocator's constructor",
        code: "pub fn mint() -> kernel_base::kalloc::Page {
                   kernel_base::kalloc::Page::from_free(kernel_base::vm::PhysAddr(0x8040_0000))
               }",
        error: "E0624",
    },
    Refused {
        what: "duplicating a free Page",
        code: "pub fn twice(p: kernel_base::kalloc::Page) -> [kernel_base::kalloc::Page; 2] {
                   [p.clone(), p]
               }",
        error: "E0599",
    },
    Refused {
        what: "freeing a Page twice",
        code: "pub fn twice(l: &mut kernel_base::kalloc::FreePages, p: kernel_base::kalloc::Page) {
                   l.push(p);
                   l.push(p);
               }",
        error: "E0382",
    },
    Refused {
        what: "reaching another hart's slot of a PerCpu whose slots are not Sync",
        code: "pub fn other(p: &kernel_base::cpu::PerCpu<core::cell::Cell<u8>>) -> Option<&core::cell::Cell<u8>> {
                   p.get(1)
               }",
        error: "E0599",
    },
    Refused {
        what: "moving a hart's PerCpu guard to another hart",
        code: "fn send<T: Send>() {}
               pub fn away() { send::<kernel_base::cpu::Mine<'static, u8>>(); }",
        error: "E0277",
    },
    Refused {
        what: "moving a buffer entry out of its bucket",
        code: "pub fn take(b: &kernel_base::bio::Bucket) -> Option<kernel_base::bio::Entry> {
                   b.entry(0).map(|e| *e)
               }",
        error: "E0507",
    },
    Refused {
        what: "copying a buffer entry",
        code: "pub fn copy(b: &kernel_base::bio::Bucket) -> Option<kernel_base::bio::Entry> {
                   b.entry(0).map(|e| e.clone())
               }",
        error: "E0308",
    },
    Refused {
        what: "dropping a bucket's entry",
        code: "pub fn lose(b: &mut kernel_base::bio::Bucket) { b.entries[0] = None; }",
        error: "E0616",
    },
    Refused {
        what: "making a buffer entry (a second buffer for a slot)",
        code: "pub fn make() -> kernel_base::bio::Entry {
                   kernel_base::bio::Entry { slot: 0, block: None, refcnt: 0, pins: 0, stamp: 0 }
               }",
        error: "E0451",
    },
    Refused {
        what: "forging a buffer reference without counting it",
        code: "pub fn forge() -> kernel_base::bio::Held {
                   kernel_base::bio::Held { slot: 0, dev: 1, blockno: 1 }
               }",
        error: "E0451",
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
pub fn move_pages(a: &mut kernel_base::kalloc::FreePages, b: &mut kernel_base::kalloc::FreePages) {
    let mut half = a.split_off(a.len() / 2);
    if let Some(p) = half.pop() {
        b.push(p);
    }
    b.append(&mut half);
}
pub fn my_count(p: &kernel_base::cpu::PerCpu<core::cell::Cell<u8>>) -> u8 {
    let mine = p.mine();
    mine.set(mine.get() + 1);
    mine.get()
}
pub fn steal(p: &kernel_base::cpu::PerCpu<kernel_base::spinlock::SpinLock<kernel_base::kalloc::FreePages>>)
    -> Option<kernel_base::kalloc::Page>
{
    p.iter().find_map(|l| l.lock().pop())
}
pub fn recycle(from: &mut kernel_base::bio::Bucket, to: &mut kernel_base::bio::Bucket)
    -> Option<kernel_base::bio::Held>
{
    let pos = from.least_recent_free()?;
    let stamp = from.entry(pos)?.stamp();
    let pos = from.move_to(pos, to)?;
    let _ = stamp;
    to.recycle(pos, 1, 2)
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
/// `pingpong`, which runs with the child's lock held. It also replaces the
/// page allocator's policy (a list per hart, stealing) and the buffer
/// cache's (hashed buckets), in safe code on the kernel's building blocks,
/// counting their calls, and reports them with the lock statistics when
/// `ls` starts; it drops a free page when `find` starts and a buffer
/// reference when `xargs` starts (each must end in a panic naming it), and
/// holds every buffer when `grep` starts until another process waits.
const PROBE: &str = r#"
#![forbid(unsafe_code)]
use abi::param::NCPU;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use kernel_base::bio::{Bucket, BufPolicy, Held};
use kernel_base::cpu::PerCpu;
use kernel_base::hooks::Lab;
use kernel_base::kalloc::{FreePages, Page, PagePolicy};
use kernel_base::proc::Proc;
use kernel_base::spinlock::SpinLock;
use kernel_base::vm::UserMemory;

pub struct Sysinfo;

struct PerHart {
    lists: PerCpu<SpinLock<FreePages>>,
    allocs: AtomicUsize,
    steals: AtomicUsize,
}

static PAGES: PerHart = PerHart {
    lists: PerCpu::new([const { SpinLock::new("kmem", FreePages::new()) }; NCPU]),
    allocs: AtomicUsize::new(0),
    steals: AtomicUsize::new(0),
};

impl PagePolicy for PerHart {
    fn alloc(&self) -> Option<Page> {
        self.allocs.fetch_add(1, Relaxed);
        let mine = self.lists.mine();
        if let Some(p) = mine.lock().pop() {
            return Some(p);
        }
        for other in self.lists.iter().filter(|l| !core::ptr::eq(*l, &*mine)) {
            let mut stolen = other.lock().split_off(32);
            if let Some(p) = stolen.pop() {
                self.steals.fetch_add(1, Relaxed);
                mine.lock().append(&mut stolen);
                return Some(p);
            }
        }
        None
    }

    fn free(&self, page: Page) {
        self.lists.mine().lock().push(page);
    }

    fn for_each_list(&self, f: &mut dyn FnMut(&FreePages)) {
        for l in self.lists.iter() {
            f(&l.lock());
        }
    }
}

const NBUCKET: usize = 7;

struct Hashed {
    buckets: [SpinLock<Bucket>; NBUCKET],
    gets: AtomicUsize,
}

static BUFS: Hashed = Hashed {
    buckets: [const { SpinLock::new("bcache", Bucket::new()) }; NBUCKET],
    gets: AtomicUsize::new(0),
};

impl BufPolicy for Hashed {
    fn buckets(&self) -> &[SpinLock<Bucket>] {
        &self.buckets
    }

    fn bucket_of(&self, _dev: u32, blockno: u32) -> usize {
        blockno as usize % NBUCKET
    }

    fn get(&self, dev: u32, blockno: u32) -> Option<Held> {
        self.gets.fetch_add(1, Relaxed);
        let home = self.bucket_of(dev, blockno);
        if let Some(h) = self.buckets[home].lock().lookup(dev, blockno) {
            return Some(h);
        }
        // Every bucket locked in order: no deadlock, and no one caches the
        // block meanwhile.
        let mut all: [_; NBUCKET] = core::array::from_fn(|i| self.buckets[i].lock());
        if let Some(h) = all[home].lookup(dev, blockno) {
            return Some(h);
        }
        let (from, pos) = (0..NBUCKET)
            .filter_map(|i| all[i].least_recent_free().map(|p| (i, p)))
            .min_by_key(|&(i, p)| all[i].entry(p).map(|e| e.stamp()))?;
        let pos = if from == home {
            pos
        } else {
            let [from, to] = all.get_disjoint_mut([from, home]).ok()?;
            from.move_to(pos, to)?
        };
        all[home].recycle(pos, dev, blockno)
    }
}

struct Console;

impl core::fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        kernel_base::print!("{}", s);
        Ok(())
    }
}

/// More references than any real count reaches (and far fewer than 2^32).
const LEAKS: u32 = 100_000;

impl Lab for Sysinfo {
    fn name(&self) -> &'static str {
        "probe"
    }

    fn page_policy(&self) -> Option<&'static dyn PagePolicy> {
        Some(&PAGES)
    }

    fn buf_policy(&self) -> Option<&'static dyn BufPolicy> {
        Some(&BUFS)
    }

    fn exec(&self, p: &Proc, _mem: &UserMemory<'_>) {
        match p.name().as_str() {
            "ls" => {
                kernel_base::println!(
                    "probe: pages: {} allocs by the lab policy, {} steals, {} free",
                    PAGES.allocs.load(Relaxed),
                    PAGES.steals.load(Relaxed),
                    kernel_base::kalloc::free_pages()
                );
                kernel_base::println!(
                    "probe: buffers: {} in the lab buckets, {} gets by its policy",
                    kernel_base::bio::buffers_in_buckets(),
                    BUFS.gets.load(Relaxed)
                );
                let _ = kernel_base::lockstat::report(&mut Console);
            }
            "grep" => {
                // Every buffer held until another process waits for one
                // (at most 10 s), then released: that process must go on.
                let held: [kernel_base::bio::Buf; abi::param::NBUF] =
                    core::array::from_fn(|i| kernel_base::bio::bread(abi::param::ROOTDEV, i as u32));
                kernel_base::println!("probe: holding every buffer");
                let mut t = kernel_base::trap::TICKS.lock();
                let start = *t;
                while kernel_base::bio::waiting() == 0 && *t - start < 100 {
                    t = kernel_base::proc::sleep(kernel_base::trap::ticks_chan(), t);
                }
                drop(t);
                kernel_base::println!(
                    "probe: {} waiting for a buffer; releasing every buffer",
                    kernel_base::bio::waiting()
                );
                drop(held);
            }
            "find" => {
                let page = PAGES.alloc();
                kernel_base::println!("probe: dropping a free page");
                drop(page);
            }
            "xargs" => {
                let held = BUFS.get(abi::param::ROOTDEV, 1);
                kernel_base::println!("probe: dropping a buffer reference");
                drop(held);
            }
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
            &["--features", "sysinfo,pgtbl,kernel-base/lockstat"],
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

[[run]]
id = "seams"
commands = ["usertests sbrkmuch", "usertests forkfork", "usertests createdelete", "ls"]
timeout = "120s"

[[run]]
id = "bufwait"
commands = ["grep probe README &", "sleep 5", "cat README"]

[[test]]
name = "a process waits while every buffer is in use, then goes on"
points = 1
run = "bufwait"
match = [
    '^probe: [1-9][0-9]* waiting for a buffer; releasing every buffer$',
    '^This is the README file of the xv6 file system you are running.$',
]
no_match = ['^panic: ']

[[run]]
id = "lostpage"
commands = ["find"]

[[run]]
id = "lostbuf"
commands = ["xargs"]

[[test]]
name = "a dropped free page stops at a panic"
points = 1
run = "lostpage"
match = '^panic: kalloc: free page 0x[0-9a-f]+ dropped \(lost\)'

[[test]]
name = "a dropped buffer reference stops at a panic"
points = 1
run = "lostbuf"
match = '^panic: bio: a reference to the buffer of block 1 dropped'

[[test]]
name = "a lab's page and buffer policies pass usertests and lose nothing"
points = 1
run = "seams"
count = { regex = '^ALL TESTS PASSED$', times = 3 }
no_match = ['^panic: ', 'lost some free pages']

[[test]]
name = "a lab's page policy serves the allocator"
points = 1
run = "seams"
match = '^probe: pages: [1-9][0-9]* allocs by the lab policy, [1-9][0-9]* steals, [1-9][0-9]* free$'

[[test]]
name = "a lab's buffer policy serves the cache and keeps every buffer"
points = 1
run = "seams"
match = '^probe: buffers: 30 in the lab buckets, [1-9][0-9]* gets by its policy$'

[[test]]
name = "lock statistics in MIT's format"
points = 1
run = "seams"
count = [
    { regex = '^--- lock kmem/bcache stats$', times = 1 },
    # A list per hart (NCPU = 8; counting the free pages locks every one).
    { regex = '^lock: kmem: #test-and-set [0-9]+ #acquire\(\) [1-9][0-9]*$', times = 8 },
    # The probe's buckets (`bcache wait` is taken only when every buffer is in use).
    { regex = '^lock: bcache: #test-and-set [0-9]+ #acquire\(\) [1-9][0-9]*$', times = 7 },
    { regex = '^--- top 5 contended locks:$', times = 1 },
    { regex = '^tot= [0-9]+$', times = 1 },
]

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
fn safe_lab_code_cannot_wrap_counts_read_locked_state_or_leave_stale_mirrors_and_may_replace_policies()
 {
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
    for line in [
        "probe: pages: ",
        "probe: buffers: 30 in the lab buckets",
        "--- lock kmem/bcache stats",
        "tot= ",
    ] {
        let seams = s.log("seams");
        if !seams.lines().any(|l| l.starts_with(line)) {
            wrong.push(format!("the seams probe printed no `{line}`:\n{seams}"));
        }
    }
    // Five locks follow the heading of the most contended, then the total.
    let seams = s.log("seams");
    let top: Vec<&str> = seams
        .lines()
        .skip_while(|l| *l != "--- top 5 contended locks:")
        .skip(1)
        .take(6)
        .collect();
    // (failed test-and-set attempts, acquires) of a statistics line.
    let counts = |l: &str| -> Option<(u64, u64)> {
        let (n, m) = l
            .strip_prefix("lock: ")?
            .split_once(": #test-and-set ")?
            .1
            .split_once(" #acquire() ")?;
        Some((n.parse().ok()?, m.parse().ok()?))
    };
    if top.len() != 6
        || !top[..5].iter().all(|l| counts(l).is_some())
        || !top[5].starts_with("tot= ")
    {
        wrong.push(format!(
            "not five contended locks, then the total:\n{seams}"
        ));
    } else if counts(top[0]).is_none_or(|(spins, _)| spins == 0) {
        // forkfork's processes on 3 harts contend for the wait lock.
        wrong.push(format!(
            "no failed test-and-set counted under forkfork:\n{seams}"
        ));
    }
    for test in [
        "a process waits while every buffer is in use, then goes on",
        "a dropped free page stops at a panic",
        "a dropped buffer reference stops at a panic",
        "a lab's page and buffer policies pass usertests and lose nothing",
        "a lab's page policy serves the allocator",
        "a lab's buffer policy serves the cache and keeps every buffer",
        "lock statistics in MIT's format",
    ] {
        if !stdout.contains(&format!("{test}: OK")) {
            wrong.push(format!("{test}: not OK:\n{}", s.log("seams")));
        }
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

/// `text` (a lab file) with its `impl Lab for <ty>` also replacing the
/// page allocator's policy by a list of its own.
fn replacing_pages(text: &str, ty: &str) -> String {
    let text = edit(
        text,
        &format!("impl Lab for {ty} {{"),
        &format!(
            "impl Lab for {ty} {{
    fn page_policy(&self) -> Option<&'static dyn kernel_base::kalloc::PagePolicy> {{
        Some(&OWN_PAGES)
    }}
"
        ),
    );
    format!(
        "{text}
static OWN_PAGES: kernel_base::spinlock::SpinLock<kernel_base::kalloc::FreePages> =
    kernel_base::spinlock::SpinLock::new(\"kmem\", kernel_base::kalloc::FreePages::new());
"
    )
}

/// Which lab's policy runs must never depend on the order of labs: two
/// labs replacing one policy stop the boot, naming both.
#[test]
fn two_labs_replacing_one_policy_stop_the_boot() {
    let dir = scratch("twice");
    write_if_changed(
        &dir.join("labs/src/trace.rs"),
        replacing_pages(&lab_file("trace"), "Trace").as_bytes(),
    );
    write_if_changed(
        &dir.join("labs/src/sysinfo.rs"),
        replacing_pages(&lab_file("sysinfo"), "Sysinfo").as_bytes(),
    );
    let (out, stdout, stderr) = run(scratch_cargo(
        &dir,
        &[
            &["build", "-q"][..],
            &KERNEL_PACKAGE,
            &["--features", "trace,sysinfo"],
        ]
        .concat(),
    ));
    assert!(
        out.status.success(),
        "the kernel with two page policies does not build:\n{stdout}{stderr}"
    );
    let config = Config {
        kernel: dir.join("target").join(TARGET).join("kernel/kernel"),
        fs_img: build("").fs_img,
    };
    let spec = r#"
name = "twice"
timeout = "30s"
untrusted = true

[[run]]
id = "boot"
commands = ["echo booted"]

[[test]]
name = "two page policies stop the boot"
points = 1
run = "boot"
match = "^panic: labs trace and sysinfo both replace the page allocator's policy: at most one lab may"
"#;
    let s = Scenario::with_text("twice", spec);
    let (_, stdout, stderr) = s.grade(&config, &[]);
    let log = s.log("boot");
    assert!(
        log.lines().any(|l| l
            .starts_with("panic: labs trace and sysinfo both replace the page allocator's policy"))
            && !log.contains("booted"),
        "two labs replacing the page policy did not stop the boot:\n{log}\n(grader: {stdout}{stderr})"
    );
}
