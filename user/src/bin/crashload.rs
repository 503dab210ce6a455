#![no_std]
#![no_main]
//! crashload SEED: a write-heavy file system workload that runs until the
//! machine is stopped, for crash tests. Four workers, each in a directory
//! of its own (`/cl0` …), pick steps at random (from SEED): stressfs, big
//! files through the indirect block, create/link/unlink loops, a directory
//! made and removed, a file unlinked while open and still written, and
//! creates in a directory all workers share (`/clshared`). Failed calls
//! (a full disk) are skipped: only the disk's consistency matters.

use user::*;

entry!(main);

const WORKERS: u32 = 4;

fn main(args: Args) -> i32 {
    let seed = args.get(1).map_or(1, |a| atoi(a) as u32);
    mkdir("/clshared");
    // Before the workers start, so no other output interleaves with it.
    println!("crashload: starting {WORKERS} workers (seed {seed})");
    for w in 0..WORKERS {
        let dir = format!("/cl{w}");
        mkdir(&dir);
        let pid = fork();
        if pid == 0 {
            if chdir(&dir) < 0 {
                exit(1);
            }
            work(w, Rng(seed.wrapping_mul(2_654_435_761) ^ (w + 1)));
        }
    }
    while wait(None) >= 0 {}
    0
}

/// xorshift32.
struct Rng(u32);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        let mut x = self.0.max(1);
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x % n
    }
}

fn create(path: &str) -> i32 {
    open(path, O_CREATE | O_RDWR)
}

fn work(w: u32, mut rng: Rng) -> ! {
    let block = [b'a' + w as u8; abi::fs::BSIZE];
    loop {
        match rng.below(6) {
            0 => {
                // stressfs in this directory: five processes, five files.
                let pid = fork();
                if pid == 0 {
                    exec("/stressfs", &["stressfs"]);
                    exit(1);
                }
                if pid > 0 {
                    wait(None);
                }
            }
            1 => {
                // A big file: past the 12 direct blocks, sometimes removed.
                let fd = open("big", O_CREATE | O_RDWR | O_TRUNC);
                for _ in 0..rng.below(150) {
                    write(fd, &block);
                }
                close(fd);
                if rng.below(2) == 0 {
                    unlink("big");
                }
            }
            2 => {
                // A file with several names, some removed.
                close(create("f"));
                let names = ["g0", "g1", "g2", "g3", "g4"];
                for n in &names {
                    link("f", n);
                }
                unlink("f");
                for n in &names[..rng.below(5) as usize] {
                    unlink(n);
                }
            }
            3 => {
                // A directory with a file, then removed.
                mkdir("d");
                let fd = create("d/x");
                write(fd, &block[..100]);
                close(fd);
                unlink("d/x");
                unlink("d");
            }
            4 => {
                // Unlinked while open, still written: it has no name while
                // the writes go on.
                let fd = create("open");
                unlink("open");
                for _ in 0..rng.below(20) {
                    write(fd, &block);
                }
                close(fd);
            }
            _ => {
                // Creates in the shared directory, racing the other workers.
                for _ in 0..10 {
                    let name = format!("/clshared/c{}", rng.below(16));
                    if rng.below(3) == 0 {
                        unlink(&name);
                    } else {
                        let fd = create(&name);
                        write(fd, &block[..rng.below(2000) as usize % 1024]);
                        close(fd);
                    }
                }
            }
        }
    }
}
