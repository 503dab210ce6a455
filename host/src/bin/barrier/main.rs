//! `barrier THREADS [ROUNDS [SEED]]`: MIT's thread-lab barrier test, in
//! Rust. THREADS threads meet at the student's barrier (`sync.rs`) ROUNDS
//! times (default 20,000), sleeping a random time below 100 µs between
//! (drawn from SEED). Before each meeting every thread checks that the
//! barrier counts the rounds it has seen end, and after it that every
//! other thread reached the meeting and none has gone past the next; the
//! first thread to see otherwise says so and the program exits 1. At the
//! end it prints `OK; passed`. This part is the instructor's.

mod sync;

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sync::Barrier;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64| match args.get(i) {
        None => Some(default),
        Some(a) => a.parse::<u64>().ok(),
    };
    let usage = || {
        eprintln!("usage: barrier THREADS [ROUNDS [SEED]]: THREADS from 1 to 64");
        ExitCode::from(2)
    };
    let (Some(threads), Some(rounds), Some(seed)) = (number(0, 0), number(1, 20_000), number(2, 1))
    else {
        return usage();
    };
    if !(1..=64).contains(&threads) || args.len() > 3 {
        return usage();
    }
    let threads = threads as usize;
    let barrier = Barrier::new(threads);
    // How many meetings each thread has come to (the harness's own count,
    // not the barrier's).
    let reached: Vec<AtomicU64> = (0..threads).map(|_| AtomicU64::new(0)).collect();
    std::thread::scope(|s| {
        for id in 0..threads {
            let (barrier, reached) = (&barrier, &reached);
            s.spawn(move || {
                if let Err(why) = meet(id, barrier, reached, rounds, seed) {
                    // At once: the others may be waiting for this thread.
                    eprintln!("{why}");
                    std::process::exit(1);
                }
            });
        }
    });
    println!("OK; passed");
    ExitCode::SUCCESS
}

/// Thread `id`'s rounds.
fn meet(
    id: usize,
    barrier: &Barrier,
    reached: &[AtomicU64],
    rounds: u64,
    seed: u64,
) -> Result<(), String> {
    let mut rng = fastrand::Rng::with_seed(seed.wrapping_add(id as u64));
    for i in 0..rounds {
        let t = barrier.round();
        if t != i {
            return Err(format!(
                "barrier: thread {id} is in round {i}, the barrier says {t}"
            ));
        }
        reached[id].store(i + 1, Ordering::SeqCst);
        barrier.wait();
        for (other, r) in reached.iter().enumerate() {
            let r = r.load(Ordering::SeqCst);
            if r < i + 1 {
                return Err(format!(
                    "barrier: thread {id} left meeting {} before thread {other} came to it",
                    i + 1
                ));
            }
            if r > i + 2 {
                return Err(format!(
                    "barrier: thread {other} came to meeting {r} before thread {id} left \
                     meeting {}",
                    i + 1
                ));
            }
        }
        std::thread::sleep(Duration::from_micros(rng.u64(..100)));
    }
    Ok(())
}
