//! `ph THREADS [SEED]`: MIT's thread-lab hash table test, in Rust. Draws
//! 100,000 distinct keys and a value for each from SEED; THREADS threads
//! each put their share of them into one table, then each gets every key
//! put and counts the keys whose value is not the one put. Prints
//!
//! ```text
//! 100000 puts, 1.234 seconds, 81037 puts/second
//! ph: the threads waited for a core 3% of the time
//! 1: 0 keys missing
//! 0: 0 keys missing
//! 200000 gets, 2.345 seconds, 85288 gets/second
//! ```
//!
//! The table is the student's (`table.rs`); this part, which counts, is
//! the instructor's. It also prints how long the putting threads waited
//! for a core (`ph: the threads waited for a core 3% of the time`), or, if
//! more, the share of the cores they needed that other programs or the
//! hypervisor took meanwhile, or how much slower threads scanning memory at
//! once run than one alone (a second "core" that shares the first's
//! hardware): more than a little, and the machine was too busy for the rate
//! to say how well they run in parallel.

mod table;

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use table::Table;

/// MIT's NKEYS.
const NKEYS: usize = 100_000;
/// Keys never put, which the table must not find.
const ABSENT: usize = 1_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64| match args.get(i) {
        None => Some(default),
        Some(a) => a.parse::<u64>().ok(),
    };
    let (Some(threads), Some(seed)) = (number(0, 0), number(1, 1)) else {
        eprintln!("usage: ph THREADS [SEED]: THREADS from 1 to 64, SEED a number");
        return ExitCode::from(2);
    };
    if !(1..=64).contains(&threads) || args.len() > 2 {
        eprintln!("usage: ph THREADS [SEED]: THREADS from 1 to 64, SEED a number");
        return ExitCode::from(2);
    }
    let threads = threads as usize;

    // Distinct keys (so that every put adds a key), random values (so that
    // a table must keep them to give them back), and keys never put.
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut seen = HashSet::with_capacity(NKEYS + ABSENT);
    let mut draw = || loop {
        let k = rng.u64(..);
        if seen.insert(k) {
            return k;
        }
    };
    let pairs: Vec<(u64, u64)> = (0..NKEYS).map(|_| (draw(), 0)).collect();
    let absent: Vec<u64> = (0..ABSENT).map(|_| draw()).collect();
    let pairs: Vec<(u64, u64)> = pairs.into_iter().map(|(k, _)| (k, rng.u64(..))).collect();

    let share = NKEYS / threads;
    let pairs = &pairs[..share * threads];
    let table = Table::new(pairs.len());

    let machine_before = MachineTimes::now();
    let start = Instant::now();
    let waited: Duration = std::thread::scope(|s| {
        let workers: Vec<_> = pairs
            .chunks(share)
            .map(|mine| {
                let table = &table;
                s.spawn(move || {
                    let before = run_queue_wait();
                    for &(k, v) in mine {
                        table.put(k, v);
                    }
                    run_queue_wait().saturating_sub(before)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let t = start.elapsed().as_secs_f64();
    let others = MachineTimes::now().others_since(&machine_before, t, threads);
    println!(
        "{} puts, {t:.3} seconds, {:.0} puts/second",
        pairs.len(),
        pairs.len() as f64 / t
    );
    // Time the threads could not run, cores other programs or the
    // hypervisor took while they ran, or the threads ran slowed by each
    // other on shared hardware (a second core that is another's
    // hyperthread): any of these and the rate says little about the table.
    let share = (waited.as_secs_f64() / (t * threads as f64))
        .max(others)
        .max(contention(threads));
    println!(
        "ph: the threads waited for a core {:.0}% of the time",
        share * 100.0
    );

    let start = Instant::now();
    std::thread::scope(|s| {
        for id in 0..threads {
            let table = &table;
            let absent = &absent;
            s.spawn(move || {
                let missing = pairs
                    .iter()
                    .filter(|&&(k, v)| table.get(k) != Some(v))
                    .count();
                let found = absent.iter().filter(|&&k| table.get(k).is_some()).count();
                println!("{id}: {missing} keys missing");
                if found > 0 {
                    println!("{id}: {found} keys found that were never put");
                }
            });
        }
    });
    let t = start.elapsed().as_secs_f64();
    let gets = pairs.len() * threads;
    println!(
        "{gets} gets, {t:.3} seconds, {:.0} gets/second",
        gets as f64 / t
    );
    ExitCode::SUCCESS
}

/// How much longer each of `threads` threads takes over a fixed scan of
/// memory (like a put's, of its own) when they run at once than one does
/// alone, as a share: about 0 where each has a core of its own. The best
/// of a few tries, so that a moment's disturbance does not count.
fn contention(threads: usize) -> f64 {
    if threads < 2 {
        return 0.0;
    }
    let scan = || {
        let keys: Vec<u64> = (0..20_000).collect();
        let start = Instant::now();
        let mut sum = 0u64;
        for round in 0..100 {
            for &k in &keys {
                sum = sum.wrapping_add(k ^ round);
            }
        }
        std::hint::black_box(sum);
        start.elapsed()
    };
    let alone = (0..3).map(|_| scan()).min().unwrap_or_default();
    let together = (0..3)
        .map(|_| {
            std::thread::scope(|s| {
                let all: Vec<_> = (0..threads).map(|_| s.spawn(scan)).collect();
                all.into_iter()
                    .map(|t| t.join().unwrap())
                    .max()
                    .unwrap_or_default()
            })
        })
        .min()
        .unwrap_or_default();
    if alone.is_zero() {
        return 0.0;
    }
    (together.as_secs_f64() / alone.as_secs_f64() - 1.0).max(0.0)
}

/// How long the calling thread has waited, runnable, for a core (Linux's
/// schedstat; zero where there is none).
fn run_queue_wait() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// The whole machine's CPU time in use and stolen by a hypervisor, and this
/// process's own (Linux's /proc, in clock ticks; zeros where there is none).
struct MachineTimes {
    busy: u64,
    stolen: u64,
    own: u64,
}

/// Clock ticks per second in /proc's times (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

impl MachineTimes {
    fn now() -> MachineTimes {
        let fields = |line: &str| -> Vec<u64> {
            line.split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect()
        };
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        // cpu user nice system idle iowait irq softirq steal ...
        let all = stat
            .lines()
            .find(|l| l.starts_with("cpu "))
            .map(fields)
            .unwrap_or_default();
        let at = |i: usize| all.get(i).copied().unwrap_or(0);
        // utime and stime, the 14th and 15th fields, the 12th and 13th
        // after the command name's closing parenthesis.
        let own = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| Some(fields(s.rsplit_once(')')?.1)))
            .map_or(0, |f| {
                f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
            });
        MachineTimes {
            busy: at(0) + at(1) + at(2) + at(5) + at(6),
            stolen: at(7),
            own,
        }
    }

    /// The share of the `threads` cores this process needed that others
    /// (other programs, the hypervisor) took in the `seconds` since
    /// `before`: 0 where the machine had cores enough left over.
    fn others_since(&self, before: &MachineTimes, seconds: f64, threads: usize) -> f64 {
        if seconds <= 0.0 {
            return 0.0;
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let others = (self.busy.saturating_sub(before.busy)
            + self.stolen.saturating_sub(before.stolen))
        .saturating_sub(self.own.saturating_sub(before.own));
        let others_cores = others as f64 / TICKS / seconds;
        let short = threads as f64 - (cpus - others_cores);
        (short / threads as f64).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::MachineTimes;

    fn at(busy: u64, stolen: u64, own: u64) -> MachineTimes {
        MachineTimes { busy, stolen, own }
    }

    #[test]
    fn cores_others_took_count_only_where_too_few_were_left() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let before = at(1000, 10, 50);
        // In one second only this process ran (its 2 threads, 200 ticks).
        assert_eq!(at(1200, 10, 250).others_since(&before, 1.0, 2), 0.0);
        // Every core busy with others' work the whole second, or stolen.
        let all = cpus * 100;
        assert_eq!(at(1000 + all, 10, 50).others_since(&before, 1.0, 1), 1.0);
        assert_eq!(at(1000, 10 + all, 50).others_since(&before, 1.0, 1), 1.0);
        // One core's worth taken by others: two threads lack a core where
        // the machine has two, and nothing where it has more than three.
        let one = at(1100, 10, 50).others_since(&before, 1.0, 2);
        match cpus {
            2 => assert!((one - 0.5).abs() < 1e-9, "{one}"),
            c if c > 3 => assert_eq!(one, 0.0),
            _ => {}
        }
    }
}
