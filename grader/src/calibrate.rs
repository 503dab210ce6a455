//! How fast QEMU runs on this machine, so that timeouts fit it: the specs'
//! timeouts are set for this project's reference machine (a busy 2-core
//! one); a machine that runs a small reference guest N times slower gets
//! them N times longer. The guest is a loop of loads and stores that needs
//! no kernel build; the measurement is cached per machine, and
//! `--timeout-scale` overrides it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The reference guest's median time on the reference machine, this
/// project's 2-core one, busy (0.4 s idle, 0.6 to 1.1 s with other jobs):
/// the specs' timeouts leave room for that already.
pub const REFERENCE_SECONDS: f64 = 0.6;
/// Scales are kept within this range: a faster machine keeps the specs'
/// timeouts (they are what the reference machine needs when busy).
pub const MIN_SCALE: f64 = 1.0;
pub const MAX_SCALE: f64 = 20.0;
/// A measurement is taken again after this long.
const CACHE_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// How many times the guest runs; the median counts.
const RUNS: usize = 3;
/// Longest a single guest run may take before the machine is called
/// hopelessly slow.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// The reference guest, RV64I machine code loaded at 0x8000_0000 (QEMU's
/// `-bios none`): 2^27 rounds of a load, an add and a store over a 2 KiB
/// buffer, then a write to the virt machine's test device, which ends
/// QEMU with status 0.
const GUEST: [u32; 18] = [
    0x0800_02b7, // lui   t0, 0x8000           t0 = 2^27 rounds
    0x0000_1337, // lui   t1, 1
    0x8013_031b, // addiw t1, t1, -2047         t1 = 0x801
    0x0143_1313, // slli  t1, t1, 20            t1 = 0x8010_0000, a buffer
    0x0000_0e13, // li    t3, 0                 offset
    0x01c3_0eb3, // 1: add t4, t1, t3
    0x000e_b383, // ld    t2, 0(t4)
    0x0013_8393, // addi  t2, t2, 1
    0x007e_b023, // sd    t2, 0(t4)
    0x008e_0e13, // addi  t3, t3, 8
    0x7f8e_7e13, // andi  t3, t3, 0x7f8         wrap at 2 KiB
    0xfff2_8293, // addi  t0, t0, -1
    0xfe02_92e3, // bnez  t0, 1b
    0x0010_0337, // lui   t1, 0x100             the test device
    0x0000_53b7, // lui   t2, 5
    0x5553_839b, // addiw t2, t2, 0x555         0x5555: pass
    0x0073_2023, // sw    t2, 0(t1)
    0x0000_006f, // 2: j 2b
];

/// A measured speed and what it does to timeouts.
#[derive(Debug, Clone, PartialEq)]
pub struct Speed {
    /// The guest's median time here.
    pub seconds: f64,
    /// The factor timeouts get: `seconds` over the reference's, within
    /// [`MIN_SCALE`, `MAX_SCALE`], to one decimal.
    pub scale: f64,
    /// Read from the cache, not measured now.
    pub cached: bool,
    /// The cache file, when there is a cache.
    pub file: Option<PathBuf>,
}

/// The scale for a guest time of `seconds`.
pub fn scale_for(seconds: f64) -> f64 {
    let raw = (seconds / REFERENCE_SECONDS).clamp(MIN_SCALE, MAX_SCALE);
    (raw * 10.0).round() / 10.0
}

/// Where measurements are kept: `$GRADER_CACHE_DIR`, else the user's
/// cache directory (`$XDG_CACHE_HOME` when absolute, else `~/.cache`)
/// and `xv6-grader` in it.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("GRADER_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(dir.into());
    }
    Some(dirs::cache_dir()?.join("xv6-grader"))
}

/// What identifies this machine's speed: its CPU model, its number of
/// cores, its memory and its machine id.
pub fn machine_key() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name") || l.starts_with("uarch") || l.starts_with("isa"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown cpu", str::trim)
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_owned())
        })
        .unwrap_or_default();
    let id = std::fs::read_to_string("/etc/machine-id").unwrap_or_default();
    format!("{model}; {cores} cores; {memory} kB; id {}", id.trim())
}

/// The cache file of `key` in `dir`.
pub fn cache_file(dir: &Path, key: &str) -> PathBuf {
    let hash = crate::hash::fnv1a(key.as_bytes());
    dir.join(format!("speed-{hash:016x}.txt"))
}

/// The cache file's text for a measurement made `at` (seconds since 1970).
pub fn cache_text(key: &str, seconds: f64, at: u64) -> String {
    format!(
        "# xv6 grader: how fast QEMU runs here\nmachine={key}\nseconds={seconds:.3}\nmeasured={at}\n"
    )
}

/// A cached measurement for `key`, if the file holds one and it is not
/// older than [`CACHE_LIFETIME`] at time `now`.
pub fn parse_cache(text: &str, key: &str, now: u64) -> Option<f64> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
    };
    if field("machine")? != key {
        return None;
    }
    let at: u64 = field("measured")?.parse().ok()?;
    if now.saturating_sub(at) > CACHE_LIFETIME.as_secs() {
        return None;
    }
    let seconds: f64 = field("seconds")?.parse().ok()?;
    (seconds > 0.0 && seconds.is_finite()).then_some(seconds)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The cached speed of this machine, if any.
pub fn cached() -> Option<Speed> {
    let dir = cache_dir()?;
    let key = machine_key();
    let file = cache_file(&dir, &key);
    let seconds = parse_cache(&std::fs::read_to_string(&file).ok()?, &key, now())?;
    Some(Speed {
        seconds,
        scale: scale_for(seconds),
        cached: true,
        file: Some(file),
    })
}

/// Runs the reference guest on `qemu` [`RUNS`] times and caches the median.
pub fn measure(qemu: &OsStr) -> Result<Speed, String> {
    let dir = cache_dir();
    let scratch = tempdir_for_guest(dir.as_deref())?;
    let image = scratch.join("reference-guest.bin");
    let bytes: Vec<u8> = GUEST.iter().flat_map(|w| w.to_le_bytes()).collect();
    std::fs::write(&image, bytes).map_err(|e| format!("cannot write {}: {e}", image.display()))?;
    let mut times = Vec::new();
    for _ in 0..RUNS {
        times.push(run_guest(qemu, &image)?);
    }
    let _ = std::fs::remove_file(&image);
    times.sort_by(f64::total_cmp);
    let seconds = times[RUNS / 2];
    let key = machine_key();
    let file = dir.map(|d| cache_file(&d, &key));
    if let Some(file) = &file {
        // A machine without a writable cache is measured each time.
        let _ = std::fs::create_dir_all(file.parent().unwrap_or(Path::new(".")));
        let _ = crate::atomic::write_atomically(file, cache_text(&key, seconds, now()).as_bytes());
    }
    Ok(Speed {
        seconds,
        scale: scale_for(seconds),
        cached: false,
        file,
    })
}

/// A directory for the guest image: the cache directory, or the system's
/// temporary one.
fn tempdir_for_guest(cache: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(dir) = cache
        && std::fs::create_dir_all(dir).is_ok()
    {
        return Ok(dir.to_path_buf());
    }
    Ok(std::env::temp_dir())
}

/// One run of the guest: its wall time, or why it failed.
fn run_guest(qemu: &OsStr, image: &Path) -> Result<f64, String> {
    let start = Instant::now();
    let mut child = Command::new(qemu)
        .args([
            "-machine", "virt", "-bios", "none", "-m", "128M", "-smp", "1",
        ])
        .arg("-kernel")
        .arg(image)
        .args(["-display", "none", "-serial", "none", "-monitor", "none"])
        .args(["-nodefaults", "-no-reboot"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", qemu.to_string_lossy()))?;
    use wait_timeout::ChildExt;
    let status = match child.wait_timeout(RUN_LIMIT) {
        Ok(Some(status)) => status,
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the reference guest took over {}s: this machine is too slow or too busy to grade",
                RUN_LIMIT.as_secs()
            ));
        }
    };
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        return Err(format!(
            "{} could not run the reference guest ({status}): {}",
            qemu.to_string_lossy(),
            err.lines().next().unwrap_or("no message")
        ));
    }
    Ok(start.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_follows_the_measured_time_within_bounds() {
        assert_eq!(scale_for(REFERENCE_SECONDS), 1.0);
        assert_eq!(scale_for(REFERENCE_SECONDS / 3.0), MIN_SCALE);
        assert_eq!(scale_for(REFERENCE_SECONDS * 2.5), 2.5);
        assert_eq!(scale_for(REFERENCE_SECONDS * 2.54), 2.5);
        assert_eq!(scale_for(REFERENCE_SECONDS * 1000.0), MAX_SCALE);
    }

    #[test]
    fn the_cache_is_per_machine_and_expires() {
        let text = cache_text("cpu x; 2 cores", 1.5, 1000);
        assert_eq!(parse_cache(&text, "cpu x; 2 cores", 1000 + 3600), Some(1.5));
        assert_eq!(parse_cache(&text, "cpu y; 2 cores", 1000), None);
        let month = CACHE_LIFETIME.as_secs();
        assert_eq!(parse_cache(&text, "cpu x; 2 cores", 1000 + month + 1), None);
        assert_eq!(parse_cache("garbage", "cpu x; 2 cores", 1000), None);
        let zero = cache_text("k", 0.0, 5);
        assert_eq!(parse_cache(&zero, "k", 5), None);
        let dir = Path::new("/c");
        assert_ne!(cache_file(dir, "a"), cache_file(dir, "b"));
        assert!(machine_key().contains("cores"));
    }

    #[test]
    fn the_guest_ends_with_a_write_to_the_test_device() {
        // sw t2, 0(t1) then a jump to itself.
        assert_eq!(GUEST[GUEST.len() - 2], 0x0073_2023);
        assert_eq!(GUEST[GUEST.len() - 1], 0x0000_006f);
    }
}
