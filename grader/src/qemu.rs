//! How to start QEMU for this kernel, and graded runs: QEMU in its own
//! process group with the console on pipes, the shell driven from the
//! output, and QEMU killed when the run ends, whatever ends it. The machine
//! arguments are shared with `cargo xtask qemu`/`gdb`, which add their own
//! console and debugging options.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use abi::console;
use regex::Regex;
use wait_timeout::ChildExt;

use crate::check::{Trust, line_matches};

/// The QEMU binary for the RISC-V `virt` machine.
pub const QEMU: &str = "qemu-system-riscv64";
/// Oldest QEMU known to work (Debian 12's).
pub const MIN_VERSION: (u32, u32) = (7, 2);

/// The machine: `virt`, no firmware, 128 MiB, `cpus` harts, the kernel ELF
/// and `fs_img` as a modern (version 2) virtio-mmio block device.
pub fn machine_args(kernel: &Path, fs_img: &Path, cpus: u32) -> Vec<OsString> {
    let mut drive = OsString::from("file=");
    drive.push(fs_img);
    drive.push(",if=none,format=raw,id=x0");
    let mut args: Vec<OsString> = ["-machine", "virt", "-bios", "none", "-m", "128M", "-smp"]
        .iter()
        .map(OsString::from)
        .collect();
    args.push(cpus.to_string().into());
    args.push("-kernel".into());
    args.push(kernel.into());
    args.extend(
        ["-global", "virtio-mmio.force-legacy=false", "-drive"]
            .iter()
            .map(OsString::from),
    );
    args.push(drive);
    args.extend(
        [
            "-device",
            "virtio-blk-device,drive=x0,bus=virtio-mmio-bus.0",
        ]
        .iter()
        .map(OsString::from),
    );
    args
}

/// Parses the version out of `qemu-system-riscv64 --version` output.
pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let rest = text.split("version ").nth(1)?;
    let mut it = rest.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// Checks that QEMU is installed and recent enough; the error says what to do.
pub fn check() -> Result<(u32, u32), String> {
    let out = Command::new(QEMU).arg("--version").output().map_err(|_| {
        format!(
            "{QEMU} is not installed: run `cargo xtask setup` (as root it installs it), \
             or `sudo apt-get install -y qemu-system-misc`"
        )
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = parse_version(&text)
        .ok_or_else(|| format!("could not read the version of {QEMU} from: {}", text.trim()))?;
    if v < MIN_VERSION {
        return Err(format!(
            "{QEMU} {}.{} is too old: version {}.{} or newer is needed",
            v.0, v.1, MIN_VERSION.0, MIN_VERSION.1
        ));
    }
    Ok(v)
}

/// The QEMU binary graded runs start: `$GRADER_QEMU` when set (tests use a
/// fake that replays a transcript), else [`QEMU`].
pub fn qemu_binary() -> OsString {
    std::env::var_os("GRADER_QEMU").unwrap_or_else(|| QEMU.into())
}

/// Whether [`qemu_binary`] names a file, or a program on `PATH`.
pub fn qemu_binary_exists() -> bool {
    let qemu = PathBuf::from(qemu_binary());
    if qemu.components().count() > 1 {
        return qemu.is_file();
    }
    find_in_path(&qemu).is_some()
}

/// The program `name` found on `PATH`.
pub fn find_in_path(name: impl AsRef<Path>) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name.as_ref()))
        .find(|p| p.is_file())
}

/// The whole command line of a graded run: the machine, the console on
/// stdio and nothing else. No `-nographic` (its monitor escape `^A` in the
/// input could end a run), no GDB port (so any number of graders run at
/// once), no default devices and no network, and `-snapshot` so the disk
/// image is never written. On Linux, QEMU's seccomp sandbox keeps it from
/// starting programs or changing privileges. The translation cache is
/// capped (64 MiB) so that QEMU fits the address-space limit graded runs
/// get ([`QEMU_ADDRESS_SPACE`]).
pub fn graded_args(kernel: &Path, fs_img: &Path, cpus: u32) -> Vec<OsString> {
    let mut args = machine_args(kernel, fs_img, cpus);
    args.extend(
        [
            "-display",
            "none",
            "-serial",
            "stdio",
            "-monitor",
            "none",
            "-nodefaults",
            "-nic",
            "none",
            "-accel",
            "tcg,tb-size=64",
            "-no-reboot",
        ]
        .iter()
        .map(OsString::from),
    );
    if cfg!(target_os = "linux") {
        args.extend(
            [
                "-sandbox",
                "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
            ]
            .iter()
            .map(OsString::from),
        );
    }
    args.push("-snapshot".into());
    args
}

/// The address space a graded QEMU may use (`RLIMIT_AS`): the guest's
/// 128 MiB, the 64 MiB translation cache, and room for QEMU itself.
pub const QEMU_ADDRESS_SPACE: u64 = 2 << 30;

/// One graded boot: what to run and what to type.
pub struct Session<'a> {
    pub qemu: &'a OsStr,
    pub args: &'a [OsString],
    /// Typed one per shell prompt.
    pub commands: &'a [String],
    /// Ends the run at a matching line after the last command, instead of
    /// at the prompt after it.
    pub until: Option<&'a Regex>,
    pub timeout: Duration,
}

/// Why a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// The prompt after the last command (or the `until` line) appeared.
    Finished,
    /// The deadline passed; `waiting_for` says what had not appeared.
    Timeout { waiting_for: String },
    /// The kernel printed this `panic: ` line.
    Panic { line: String },
    /// QEMU exited by itself before the run finished.
    Exited { status: String, stderr: String },
    /// The console passed [`OUTPUT_LIMIT`] bytes, `printed` in all.
    OutputLimit { printed: usize },
    /// No shell prompt appeared within the boot timeout, `after` this long.
    BootTimeout { after: Duration },
    /// The grader stopped the run: its tests cannot score (a test they
    /// require failed meanwhile).
    Cancelled,
    /// Not run: a host run needs more cores than this machine has.
    NeedsCores { needed: u32, have: u32 },
    /// The kernel stopped at the run's breakpoint (`stop_at`), in this
    /// function, as gdb reported.
    Stopped { function: String },
    /// The run's breakpoint could not be watched: gdb is missing, or it
    /// could not attach or set the breakpoint (why).
    NoDebugger { reason: String },
}

/// A finished run: the console as printed and how it ended.
#[derive(Debug)]
pub struct Transcript {
    pub output: Vec<u8>,
    pub end: End,
    pub elapsed: Duration,
    /// How the run's tokens are checked: `None` when its disk is no xv6
    /// file system (a test's stand-in for QEMU).
    pub trust: Option<Trust>,
}

/// How long output keeps being collected after a panic line (the
/// backtrace that may follow), before QEMU is stopped.
pub const PANIC_GRACE: Duration = Duration::from_millis(200);
/// How long the rest of a panic line may take to arrive.
pub const PANIC_LINE_WAIT: Duration = Duration::from_secs(2);
/// How long a `$ ` that ends a line of output (not at a line start, as a
/// prompt after output that lacks its newline) must stay the last thing
/// printed to count as a prompt.
pub const QUIET_PROMPT: Duration = Duration::from_millis(300);

/// What the run should do after some output.
#[derive(Debug, PartialEq)]
pub enum Step {
    Wait,
    /// Type this line (it ends in `\n`).
    Type(String),
    Finished,
    /// A `panic: ` line appeared (the first one).
    Panic,
    /// The console passed [`OUTPUT_LIMIT`].
    OutputLimit,
    /// A prompt appeared before the running test program's closing token:
    /// wait [`closing_grace`] for it, then [`Shell::give_up`].
    Unclosed,
}

/// How much of a run's console is kept: its first `KEEP_HEAD` and its last
/// `KEEP_TAIL` bytes (a flood in between is counted, not kept).
pub const KEEP_HEAD: usize = 512 * 1024;
pub const KEEP_TAIL: usize = 512 * 1024;
/// A run whose console passes this many bytes ends at once, OUTPUT LIMIT:
/// the full usertests print about 40 KB.
pub const OUTPUT_LIMIT: usize = 4 * 1024 * 1024;
/// How much of one console line is looked at (prompts, panics, `until`).
const LINE_MAX: usize = 4096;

/// The console as kept: the head, the tail, and how much was dropped
/// between them.
#[derive(Default)]
pub(crate) struct Kept {
    head: Vec<u8>,
    tail: Vec<u8>,
    dropped: usize,
}

impl Kept {
    pub(crate) fn push(&mut self, mut bytes: &[u8]) {
        if self.tail.is_empty() {
            let n = KEEP_HEAD.saturating_sub(self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
        self.tail.extend_from_slice(bytes);
        // Drop in big steps, so a flood costs amortised O(1) a byte.
        if self.tail.len() > 2 * KEEP_TAIL {
            let cut = self.tail.len() - KEEP_TAIL;
            self.tail.drain(..cut);
            self.dropped += cut;
        }
    }

    /// Bytes printed so far, kept or not.
    pub(crate) fn total(&self) -> usize {
        self.head.len() + self.dropped + self.tail.len()
    }

    pub(crate) fn into_bytes(mut self) -> Vec<u8> {
        // `push` lets the tail grow to twice its size between cuts: cut it
        // to size here, so a log keeps what [`KEEP_TAIL`] says.
        if self.tail.len() > KEEP_TAIL {
            let cut = self.tail.len() - KEEP_TAIL;
            self.tail.drain(..cut);
            self.dropped += cut;
        }
        let mut out = self.head;
        if self.dropped > 0 {
            out.extend_from_slice(
                format!(
                    "\n[grader: {} bytes of console output not kept here]\n",
                    self.dropped
                )
                .as_bytes(),
            );
        }
        out.extend_from_slice(&self.tail);
        out
    }
}

/// Drives the shell from the console output, like MIT's gradelib: at each
/// prompt `$ ` (at a line start) type the next command; the run is over at
/// the prompt after the last one. A prompt counts only if it appeared after
/// the previous command was typed: the echo of a command, or a prompt
/// printed before typing, never advances the script twice. Positions are
/// counted in bytes printed since boot, kept or not.
pub struct Shell<'a> {
    commands: &'a [String],
    until: Option<&'a Regex>,
    kept: Kept,
    typed: usize,
    /// Output from here on was printed after the last command was typed.
    typed_at: usize,
    /// Start of the line not yet ended by a newline.
    line_start: usize,
    /// That line's first `LINE_MAX` bytes, its length and last two bytes.
    line: Vec<u8>,
    line_len: usize,
    line_end: [u8; 2],
    /// That line was already taken as a prompt.
    line_prompted: bool,
    panic: Option<String>,
    /// The panic line has not ended yet: it is still growing.
    panic_open: bool,
    ok_lines: usize,
    limit_hit: bool,
    /// A prompt has appeared: the kernel booted to its shell.
    prompted: bool,
    /// Per command, the tokened program it runs and its lines' key.
    tokens: Option<Vec<Option<Program>>>,
    /// The running command's closing token has appeared.
    closed: bool,
    /// Commands that ended without their program's closing token.
    unclosed: Vec<String>,
}

impl<'a> Shell<'a> {
    pub fn new(commands: &'a [String], until: Option<&'a Regex>) -> Self {
        Shell {
            commands,
            until,
            kept: Kept::default(),
            typed: 0,
            typed_at: 0,
            line_start: 0,
            line: Vec::new(),
            line_len: 0,
            line_end: [0; 2],
            line_prompted: false,
            panic: None,
            panic_open: false,
            ok_lines: 0,
            limit_hit: false,
            prompted: false,
            tokens: None,
            closed: false,
            unclosed: Vec::new(),
        }
    }

    /// Makes a command that runs a tokened program end only after that
    /// program's closing token under `key`.
    pub fn expect_tokens(&mut self, key: [u8; 16]) {
        self.tokens = Some(command_keys(&key, self.commands));
    }

    /// The tokened program the running command waits for and its lines'
    /// key, if it is not closed yet.
    fn awaited(&self) -> Option<Program> {
        let programs = self.tokens.as_ref()?;
        let program = (*programs.get(self.typed.checked_sub(1)?)?)?;
        (!self.closed).then_some(program)
    }

    /// Commands that ended without their program's closing token.
    pub fn unclosed(&self) -> &[String] {
        &self.unclosed
    }

    /// Ends the running command without its closing token (the grace after
    /// [`Step::Unclosed`] is over): as if its prompt had just appeared.
    pub fn give_up(&mut self) -> Step {
        if self.awaited().is_none() {
            return Step::Wait;
        }
        self.unclosed.push(self.commands[self.typed - 1].clone());
        self.closed = true;
        self.prompt()
    }

    /// Takes more console output.
    pub fn feed(&mut self, bytes: &[u8]) -> Step {
        let from = self.kept.total();
        self.kept.push(bytes);
        let had_panic = self.panic.is_some();
        let mut prompt = false;
        let mut until_seen = false;
        for (k, &b) in bytes.iter().enumerate() {
            if b == b'\n' {
                let (p, u) = self.end_line();
                prompt |= p;
                until_seen |= u;
                self.line_start = from + k + 1;
            } else {
                if self.line.len() < LINE_MAX {
                    self.line.push(b);
                }
                self.line_len += 1;
                self.line_end = [self.line_end[1], b];
            }
        }
        if self.panic.is_none() && self.line.starts_with(console::PANIC.as_bytes()) {
            self.panic_open = true;
        }
        if self.panic_open {
            self.panic = Some(String::from_utf8_lossy(&self.line).into_owned());
        }
        if self.line_start >= self.typed_at
            && !self.line_prompted
            && self.line.starts_with(console::PROMPT.as_bytes())
        {
            prompt = true;
            self.line_prompted = true;
        }
        if self.panic.is_some() {
            return if had_panic { Step::Wait } else { Step::Panic };
        }
        if self.kept.total() > OUTPUT_LIMIT && !self.limit_hit {
            self.limit_hit = true;
            return Step::OutputLimit;
        }
        if until_seen {
            return Step::Finished;
        }
        if prompt { self.prompt() } else { Step::Wait }
    }

    /// Ends the current line: returns whether it was a prompt and whether it
    /// matched `until`.
    fn end_line(&mut self) -> (bool, bool) {
        let text = String::from_utf8_lossy(&self.line);
        let line = text.strip_suffix('\r').unwrap_or(&text);
        if self.panic_open {
            self.panic = Some(line.to_owned());
            self.panic_open = false;
        } else if self.panic.is_none() && line.starts_with(console::PANIC) {
            self.panic = Some(line.to_owned());
        }
        if line
            .strip_suffix(console::OK)
            .is_some_and(|l| l.ends_with(": "))
            || line.trim() == console::OK
        {
            self.ok_lines += 1;
        }
        let after_typing = self.line_start >= self.typed_at;
        if after_typing && let Some((name, key)) = self.awaited() {
            self.closed = is_closing(line, name, &key);
        }
        let until = after_typing
            && self.typed == self.commands.len()
            && self.until.is_some_and(|re| line_matches(re, line));
        let prompt = after_typing && !self.line_prompted && line.starts_with(console::PROMPT);
        self.line.clear();
        self.line_len = 0;
        self.line_end = [0; 2];
        self.line_prompted = false;
        (prompt, until)
    }

    /// Whether the output ends in `$ ` after other text on its line, which
    /// is a prompt if nothing follows it for [`QUIET_PROMPT`].
    pub fn ends_in_late_prompt(&self) -> bool {
        self.panic.is_none()
            && self.line_start >= self.typed_at
            && !self.line_prompted
            && self.line_len > 2
            && self.line_end == console::PROMPT.as_bytes()
    }

    /// Takes the `$ ` at the end of the output as a prompt (nothing followed it).
    pub fn quiet(&mut self) -> Step {
        if !self.ends_in_late_prompt() {
            return Step::Wait;
        }
        self.line_prompted = true;
        self.prompt()
    }

    fn prompt(&mut self) -> Step {
        self.prompted = true;
        if self.awaited().is_some() {
            return Step::Unclosed;
        }
        match self.commands.get(self.typed) {
            Some(command) => {
                self.typed += 1;
                self.typed_at = self.kept.total();
                self.closed = false;
                Step::Type(format!("{command}\n"))
            }
            None if self.until.is_none() => Step::Finished,
            None => Step::Wait,
        }
    }

    /// What the run is waiting for, for a timeout message.
    pub fn waiting_for(&self) -> String {
        let n = self.commands.len();
        match (self.typed, self.until) {
            (0, _) => "the shell's first prompt".to_owned(),
            (k, Some(re)) if k == n => {
                format!("a line matching /{re}/ after `{}`", self.commands[k - 1])
            }
            (k, _) => format!(
                "the prompt after `{}` (command {k} of {n})",
                self.commands[k - 1]
            ),
        }
    }

    /// Whether a shell prompt has appeared since boot.
    pub fn prompted(&self) -> bool {
        self.prompted
    }

    /// Lines so far that report a test OK (usertests' progress).
    pub fn ok_lines(&self) -> usize {
        self.ok_lines
    }

    /// The first `panic: ` line, as much of it as has arrived.
    pub fn panic_line(&self) -> Option<&str> {
        self.panic.as_deref()
    }

    /// Whether the panic line has ended (its newline arrived).
    pub fn panic_line_complete(&self) -> bool {
        self.panic.is_some() && !self.panic_open
    }

    /// Bytes printed so far, kept or not.
    pub fn printed(&self) -> usize {
        self.kept.total()
    }

    /// The console as kept: all of it, or its head and tail with a line
    /// saying how much was dropped between them.
    pub fn into_output(self) -> Vec<u8> {
        self.kept.into_bytes()
    }
}

/// The tokened test program (one of [`abi::tok::TOKENED`]) `command` runs,
/// and its arguments (its name first): the first word that names one, up
/// to the end of its part of the command line (`trace 2 usertests x` runs
/// `usertests x` under trace; `find . b | tok xargs grep b` runs
/// `tok xargs grep b`).
pub fn tokened_command(command: &str) -> Option<(&'static str, Vec<&str>)> {
    // Words, and `None` where the shell's punctuation ends a command.
    let mut parts: Vec<Option<&str>> = Vec::new();
    let mut rest = command;
    while let Some(at) = rest.find(|c: char| "|;&()<>".contains(c)) {
        parts.extend(rest[..at].split_whitespace().map(Some));
        parts.push(None);
        rest = &rest[at + 1..];
    }
    parts.extend(rest.split_whitespace().map(Some));
    let start = parts
        .iter()
        .position(|w| w.is_some_and(|w| abi::tok::TOKENED.contains(&w)))?;
    let name = abi::tok::TOKENED
        .iter()
        .copied()
        .find(|&n| Some(n) == parts[start])?;
    let args = parts[start..].iter().map_while(|w| *w).collect();
    Some((name, args))
}

/// The tokened program `command` runs, if any (see [`tokened_command`]).
pub fn tokened_program(command: &str) -> Option<&'static str> {
    tokened_command(command).map(|(name, _)| name)
}

/// A tokened program a command runs, and the key its lines are made with.
pub type Program = (&'static str, [u8; 16]);

/// The tokened program each command runs, with the key its lines are made
/// with under the run's `key`.
pub fn command_keys(key: &[u8; 16], commands: &[String]) -> Vec<Option<Program>> {
    commands
        .iter()
        .map(|c| {
            let (name, args) = tokened_command(c)?;
            Some((
                name,
                abi::tok::command_key(key, args.iter().map(|a| a.as_bytes())),
            ))
        })
        .collect()
}

/// Whether `line` is `name`'s closing line with a valid token of `key`
/// (its sequence number the count of lines it covers).
fn is_closing(line: &str, name: &str, key: &[u8; 16]) -> bool {
    abi::tok::split(line).is_some_and(|(text, token)| {
        token.name == name
            && token
                .covered(key, text)
                .is_some_and(|own| abi::tok::parse_closing(own) == Some(token.seq))
    })
}

/// How long a prompt that came before its command's closing token waits
/// for it: a few seconds, more for a longer run (a busy machine).
pub fn closing_grace(timeout: Duration) -> Duration {
    (timeout / 60).clamp(Duration::from_secs(3), Duration::from_secs(10))
}

/// A per-run copy of a disk image with a fresh key in its tokened
/// programs; removed when dropped.
struct KeyedImage {
    path: PathBuf,
}

impl Drop for KeyedImage {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes `key` after every key slot marker in the files of `img` (an xv6
/// file system) named in [`abi::tok::TOKENED`], and only there: a program
/// of the student's own that carries a marker gets no key. Returns how many
/// slots it wrote, or `None` if `img` is no xv6 file system.
pub fn patch_key(img: &mut [u8], key: &[u8; 16]) -> Option<usize> {
    // The blocks of the tokened programs, found in either inode layout.
    let files: Vec<Vec<u32>> = {
        let image = mkfs::Image::open(img).ok()?;
        let root = image.list_dir(abi::fs::ROOTINO).ok()?;
        root.iter()
            .filter(|d| d.inum != 0 && abi::tok::TOKENED.iter().any(|n| d.name_is(n.as_bytes())))
            .filter_map(|d| image.file_blocks(u32::from(d.inum)).ok())
            .collect()
    };
    let block = |img: &[u8], b: u32| -> Option<std::ops::Range<usize>> {
        let start = (b as usize).checked_mul(abi::fs::BSIZE)?;
        (start + abi::fs::BSIZE <= img.len()).then_some(start..start + abi::fs::BSIZE)
    };
    let mut written = 0;
    let align = std::mem::align_of::<abi::tok::KeySlot>();
    for blocks in files {
        for b in blocks {
            let Some(r) = block(img, b) else { continue };
            for slot in img[r].chunks_exact_mut(align) {
                if slot[..16] == abi::tok::MARKER {
                    slot[16..32].copy_from_slice(key);
                    written += 1;
                }
            }
        }
    }
    Some(written)
}

/// A run's QEMU arguments, its key, and its keyed disk (if one was made).
type Keyed = (Vec<OsString>, Option<[u8; 16]>, Option<KeyedImage>);

/// For a graded run (`-snapshot`) of an xv6 disk: the arguments with the
/// disk replaced by a copy keyed with a fresh random key, the key, and the
/// copy (to remove after the run). The arguments unchanged if the disk is
/// no xv6 file system.
fn keyed_args(args: &[OsString]) -> io::Result<Keyed> {
    let unchanged = || Ok((args.to_vec(), None, None));
    if !args.iter().any(|a| a == "-snapshot") {
        return unchanged();
    }
    let Some(at) = args.iter().position(|a| {
        a.to_str()
            .is_some_and(|a| a.starts_with("file=") && a.ends_with(",if=none,format=raw,id=x0"))
    }) else {
        return unchanged();
    };
    let drive = args[at].to_str().expect("checked above");
    let image =
        PathBuf::from(&drive["file=".len()..drive.len() - ",if=none,format=raw,id=x0".len()]);
    let Ok(mut bytes) = std::fs::read(&image) else {
        return unchanged();
    };
    let mut key = [0u8; 16];
    getrandom::fill(&mut key).map_err(|e| io::Error::other(format!("no OS randomness: {e}")))?;
    match patch_key(&mut bytes, &key) {
        None => unchanged(),
        Some(0) => Ok((args.to_vec(), Some(key), None)),
        Some(_) => {
            static UNIQUE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let name = format!(
                ".keyed-{}-{}.img",
                std::process::id(),
                UNIQUE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            );
            // Beside the image (a sandbox shows QEMU that directory), or
            // where temporary files go if that directory is read-only.
            let mut path = image.with_file_name(&name);
            if std::fs::write(&path, &bytes).is_err() {
                path = std::env::temp_dir().join(&name);
                std::fs::write(&path, &bytes)?;
            }
            let copy = KeyedImage { path };
            let mut args = args.to_vec();
            let mut arg = OsString::from("file=");
            arg.push(&copy.path);
            arg.push(",if=none,format=raw,id=x0");
            args[at] = arg;
            Ok((args, Some(key), Some(copy)))
        }
    }
}

/// Process groups of the QEMUs now running, for the interrupt handler.
static LIVE: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn live() -> MutexGuard<'static, Vec<i32>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn kill_group(pgid: i32) {
    // SAFETY: kill(2) touches no memory of ours; a negative pid names the
    // process group, which is QEMU's own (it was started as its leader).
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Kills every QEMU this process started that is still running. For a
/// program that embeds the grader and has its own Ctrl-C handler.
pub fn kill_all() {
    for &pgid in live().iter() {
        kill_group(pgid);
    }
}

/// On Ctrl-C (and SIGTERM, SIGHUP), kill every running QEMU and exit with
/// status 130. Fails when the program already has a handler; that handler
/// should then call [`kill_all`].
pub fn install_interrupt_handler() -> Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            ctrlc::set_handler(|| {
                // Holding the lock until exit keeps new QEMUs from starting.
                let groups = live();
                for &pgid in groups.iter() {
                    kill_group(pgid);
                }
                eprintln!("grader: interrupted; stopped {} QEMU run(s)", groups.len());
                std::process::exit(130);
            })
            .map_err(|e| format!("cannot catch Ctrl-C ({e}): QEMUs may outlive an interrupt"))
        })
        .clone()
}

/// A running QEMU in its own process group, killed (group and all) and
/// reaped when dropped, whatever ended the run.
pub(crate) struct Running {
    pub(crate) child: Child,
    pgid: i32,
}

impl Running {
    pub(crate) fn spawn(mut command: Command) -> io::Result<Running> {
        command.process_group(0);
        die_with_parent(&mut command);
        // Spawn under the lock: an interrupt now waits until the new group is listed.
        let mut groups = live();
        let child = command.spawn()?;
        let pgid = i32::try_from(child.id()).expect("pids fit in i32");
        groups.push(pgid);
        Ok(Running { child, pgid })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        kill_group(self.pgid);
        live().retain(|&g| g != self.pgid);
        let _ = self.child.wait();
    }
}

/// Makes the kernel kill QEMU if the grader dies without cleaning up
/// (SIGKILL, a crash), so no run outlives it even then, and caps its
/// address space.
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed: setrlimit, prctl, getppid and
    // _exit are, and nothing here allocates or takes a lock.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: QEMU_ADDRESS_SPACE,
                rlim_max: QEMU_ADDRESS_SPACE,
            };
            libc::setrlimit(libc::RLIMIT_AS, &limit);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // The parent may have died before prctl took effect.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_: &mut Command) {}

/// Reads `from` until end of file on a thread, sending each chunk. The
/// channel holds a few chunks only: a console that prints faster than the
/// grader reads waits, instead of filling the grader's memory.
pub(crate) fn forward(mut from: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::sync_channel(16);
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Boots QEMU, types the session's commands and collects the console until
/// the run finishes, the kernel panics, QEMU exits, or the timeout. QEMU is
/// gone when this returns. `progress` gets the count of OK lines whenever it
/// grows. Errors only if QEMU cannot be started.
pub fn run_session(session: &Session, progress: &mut dyn FnMut(usize)) -> io::Result<Transcript> {
    run_session_booting(session, session.timeout, progress)
}

/// [`run_session`], ending the run as [`End::BootTimeout`] when no shell
/// prompt appears within `boot` (when that is shorter than the timeout): a
/// kernel that hangs before its shell costs that, not the run's timeout.
pub fn run_session_booting(
    session: &Session,
    boot: Duration,
    progress: &mut dyn FnMut(usize),
) -> io::Result<Transcript> {
    run_session_cancellable(session, boot, &AtomicBool::new(false), progress)
}

/// How often a run checks whether it was cancelled.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// [`run_session_booting`], ending the run as [`End::Cancelled`] soon
/// after `cancel` is set.
pub fn run_session_cancellable(
    session: &Session,
    boot: Duration,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize),
) -> io::Result<Transcript> {
    run_session_stopping(session, None, boot, cancel, progress)
}

/// [`run_session_cancellable`]; with `stop`, the kernel runs under gdb and
/// the run ends as [`End::Stopped`] when it stops at the breakpoint (or
/// [`End::NoDebugger`] when gdb is missing or cannot stop it there).
pub fn run_session_stopping(
    session: &Session,
    stop: Option<&crate::gdb::StopAt>,
    boot: Duration,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize),
) -> io::Result<Transcript> {
    if stop.is_some() && !crate::gdb::available() {
        return Ok(Transcript {
            output: Vec::new(),
            end: End::NoDebugger {
                reason: crate::gdb::missing(),
            },
            elapsed: Duration::ZERO,
            trust: None,
        });
    }
    let (mut args, key, _keyed_image) = keyed_args(session.args)?;
    let socket = match stop {
        Some(_) => {
            let socket = crate::gdb::socket_dir()?.join("gdb.sock");
            args.extend(crate::gdb::qemu_args(&socket));
            Some(socket)
        }
        None => None,
    };
    let mut command = Command::new(session.qemu);
    command
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut qemu = Running::spawn(command)?;
    let mut debugger = match (stop, &socket) {
        (Some(stop), Some(socket)) => Some(crate::gdb::Debugger::new(stop, socket)),
        _ => None,
    };
    let mut stdin = qemu.child.stdin.take();
    let chunks = forward(qemu.child.stdout.take().expect("stdout is piped"));
    let errors = forward(qemu.child.stderr.take().expect("stderr is piped"));
    let deadline = start + session.timeout;
    let boot_deadline = (boot < session.timeout).then(|| start + boot);
    let mut shell = Shell::new(session.commands, session.until);
    if let Some(key) = key {
        shell.expect_tokens(key);
    }
    // When a prompt came before its command's closing token.
    let mut unclosed_at: Option<Instant> = None;
    let grace = closing_grace(session.timeout);
    let mut panicked_at: Option<Instant> = None;
    // When the whole panic line was in: the backtrace's grace starts then.
    let mut panic_line_at: Option<Instant> = None;
    let mut ok_lines = 0;
    let end = loop {
        if cancel.load(Ordering::Relaxed) {
            break End::Cancelled;
        }
        match debugger.as_mut().and_then(crate::gdb::Debugger::poll) {
            Some(crate::gdb::Event::Stopped) => {
                break End::Stopped {
                    function: stop.map(|s| s.function.to_owned()).unwrap_or_default(),
                };
            }
            Some(crate::gdb::Event::Failed(reason)) => break End::NoDebugger { reason },
            None => {}
        }
        if panic_line_at.is_none() && shell.panic_line_complete() {
            panic_line_at = Some(Instant::now());
        }
        let booting = boot_deadline.filter(|_| !shell.prompted());
        let limit = match (panic_line_at, panicked_at, booting) {
            (Some(t), _, _) => t + PANIC_GRACE,
            (None, Some(t), _) => t + PANIC_LINE_WAIT,
            (None, None, Some(t)) => t,
            (None, None, None) => deadline,
        };
        let now = Instant::now();
        if now >= limit {
            break match shell.panic_line() {
                Some(line) => End::Panic {
                    line: line.to_owned(),
                },
                None if booting.is_some() => End::BootTimeout { after: boot },
                None => End::Timeout {
                    waiting_for: shell.waiting_for(),
                },
            };
        }
        let late_prompt = shell.ends_in_late_prompt();
        let mut wait = if late_prompt {
            (limit - now).min(QUIET_PROMPT)
        } else {
            limit - now
        };
        let given_up = unclosed_at.map(|t| t + grace);
        if let Some(t) = given_up {
            wait = wait.min(t.saturating_duration_since(now));
        }
        // A late prompt's wait measures quiet, so it must not be cut; it
        // is short anyway.
        if !late_prompt {
            wait = wait.min(CANCEL_POLL);
        }
        let step = match chunks.recv_timeout(wait) {
            Ok(bytes) => shell.feed(&bytes),
            Err(RecvTimeoutError::Timeout) if given_up.is_some_and(|t| Instant::now() >= t) => {
                unclosed_at = None;
                shell.give_up()
            }
            Err(RecvTimeoutError::Timeout) if late_prompt => shell.quiet(),
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => {
                if let Some(line) = shell.panic_line() {
                    break End::Panic {
                        line: line.to_owned(),
                    };
                }
                let status = match qemu.child.wait_timeout(Duration::from_secs(1)) {
                    Ok(Some(status)) => status.to_string(),
                    _ => "closed its output".to_owned(),
                };
                let stderr = errors
                    .recv_timeout(Duration::from_millis(500))
                    .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
                    .unwrap_or_default();
                break End::Exited { status, stderr };
            }
        };
        if shell.ok_lines() != ok_lines {
            ok_lines = shell.ok_lines();
            progress(ok_lines);
        }
        if matches!(step, Step::Type(_) | Step::Finished) {
            unclosed_at = None;
        }
        match step {
            Step::Wait => {}
            Step::Unclosed => {
                unclosed_at.get_or_insert_with(Instant::now);
            }
            // A failed write means QEMU is gone; its end of output follows.
            Step::Type(line) => {
                if let Some(input) = stdin.as_mut() {
                    let _ = input.write_all(line.as_bytes());
                }
            }
            Step::Finished => break End::Finished,
            Step::Panic => panicked_at = Some(Instant::now()),
            Step::OutputLimit => {
                break End::OutputLimit {
                    printed: shell.printed(),
                };
            }
        }
    };
    drop(debugger);
    drop(qemu);
    let trust = key.map(|key| Trust::new(&key, session.commands, shell.unclosed().to_vec()));
    Ok(Transcript {
        output: shell.into_output(),
        end,
        elapsed: start.elapsed(),
        trust,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        let debian = "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright";
        assert_eq!(parse_version(debian), Some((7, 2)));
        assert_eq!(parse_version("QEMU emulator version 10.0.2"), Some((10, 0)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn machine_args_name_the_files() {
        let a = machine_args(Path::new("k"), Path::new("f.img"), 3);
        let s: Vec<String> = a.iter().map(|x| x.to_string_lossy().into_owned()).collect();
        let joined = s.join(" ");
        assert!(joined.contains("-smp 3"));
        assert!(joined.contains("-kernel k"));
        assert!(joined.contains("file=f.img,if=none,format=raw,id=x0"));
        assert!(joined.contains("virtio-mmio.force-legacy=false"));
    }

    fn commands(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn graded_args_keep_qemu_quiet_contained_and_the_disk_unchanged() {
        let a = graded_args(Path::new("k"), Path::new("f.img"), 1);
        let joined = a.join(OsStr::new(" ")).into_string().unwrap();
        for want in [
            "-display none -serial stdio -monitor none -nodefaults -nic none",
            "-accel tcg,tb-size=64",
            "-no-reboot",
            "-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
        ] {
            assert!(joined.contains(want), "no {want} in {joined}");
        }
        assert!(joined.ends_with(" -snapshot"), "{joined}");
        // One drive (the image), no host directories, no debugging, no
        // network, no semihosting.
        assert_eq!(joined.matches("-drive").count(), 1);
        for banned in [
            "nographic",
            "-gdb",
            " -s ",
            "-virtfs",
            "-fsdev",
            "-netdev",
            "semihosting",
            "-chardev",
            "-device virtio-net",
            "-plugin",
        ] {
            assert!(!joined.contains(banned), "{banned} in {joined}");
        }
    }

    #[test]
    fn a_panic_line_is_reported_whole_however_it_arrives() {
        let cmds = commands(&["x"]);
        let mut sh = Shell::new(&cmds, None);
        assert_eq!(sh.feed(b"booting\npanic: "), Step::Panic);
        assert!(!sh.panic_line_complete());
        assert_eq!(sh.feed(b"freeing free"), Step::Wait);
        assert_eq!(sh.panic_line(), Some("panic: freeing free"));
        assert_eq!(
            sh.feed(b" page (hart 0 at kalloc.rs:40)\r\nbacktrace:\n"),
            Step::Wait
        );
        assert!(sh.panic_line_complete());
        assert_eq!(
            sh.panic_line(),
            Some("panic: freeing free page (hart 0 at kalloc.rs:40)")
        );
        // A later panic does not replace the first.
        sh.feed(b"panic: again\n");
        assert_eq!(
            sh.panic_line(),
            Some("panic: freeing free page (hart 0 at kalloc.rs:40)")
        );
    }

    #[test]
    fn a_flood_keeps_the_head_and_the_tail_and_hits_the_limit() {
        let cmds = commands(&["flood"]);
        let mut sh = Shell::new(&cmds, None);
        assert_eq!(sh.feed(b"boot\n$ "), Step::Type("flood\n".into()));
        sh.feed(b"flood\n");
        let line = [b'x'; 99].iter().chain(b"\n").copied().collect::<Vec<u8>>();
        let mut steps = Vec::new();
        let mut chunk = Vec::new();
        for _ in 0..400 {
            chunk.extend_from_slice(&line);
        }
        while sh.printed() <= OUTPUT_LIMIT + chunk.len() {
            let step = sh.feed(&chunk);
            if step != Step::Wait {
                steps.push(step);
            }
        }
        // The limit is reported once.
        assert_eq!(steps, [Step::OutputLimit]);
        sh.feed(b"the end\n");
        let printed = sh.printed();
        let out = sh.into_output();
        assert!(out.len() <= KEEP_HEAD + KEEP_TAIL + 100, "{}", out.len());
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("boot\n$ flood\nxxx"));
        assert!(text.ends_with("xxx\nthe end\n"));
        // What was kept and what the marker says was dropped add up.
        let marker =
            regex::Regex::new(r"\n\[grader: (\d+) bytes of console output not kept here\]\n")
                .unwrap();
        let m = marker.captures(&text).expect("a marker");
        let dropped: usize = m[1].parse().unwrap();
        let whole = m.get(0).unwrap();
        assert_eq!(whole.start(), KEEP_HEAD);
        assert_eq!(whole.start() + dropped + (out.len() - whole.end()), printed);
    }

    #[test]
    fn a_long_line_does_not_grow_the_shell() {
        let cmds = commands(&["x", "y"]);
        let mut sh = Shell::new(&cmds, None);
        assert_eq!(sh.feed(b"$ "), Step::Type("x\n".into()));
        sh.feed(b"x\n");
        for _ in 0..1000 {
            sh.feed(&[b'y'; 1000]);
        }
        assert!(sh.line.len() <= LINE_MAX);
        // A prompt after it still counts.
        assert_eq!(sh.feed(b"\n$ "), Step::Type("y\n".into()));
    }

    #[test]
    fn types_one_command_per_prompt_and_ends_at_the_last_prompt() {
        let cmds = commands(&["echo hello", "ls"]);
        let mut sh = Shell::new(&cmds, None);
        assert_eq!(
            sh.feed(b"xv6 kernel is booting\n\ninit: starting sh\n"),
            Step::Wait
        );
        assert_eq!(sh.feed(b"$"), Step::Wait);
        assert_eq!(sh.feed(b" "), Step::Type("echo hello\n".into()));
        // The echo completes the prompt's line: no second command.
        assert_eq!(sh.feed(b"echo hello\nhello\n"), Step::Wait);
        assert_eq!(sh.feed(b"$ "), Step::Type("ls\n".into()));
        assert_eq!(sh.waiting_for(), "the prompt after `ls` (command 2 of 2)");
        assert_eq!(sh.feed(b"ls\nREADME\n$ "), Step::Finished);
    }

    #[test]
    fn a_dollar_in_the_echo_or_the_output_is_not_a_prompt() {
        let cmds = commands(&["echo a $ b", "next"]);
        let mut sh = Shell::new(&cmds, None);
        assert_eq!(sh.feed(b"$ "), Step::Type("echo a $ b\n".into()));
        for &byte in b"echo a $ b\na $ b\n" {
            assert_eq!(sh.feed(&[byte]), Step::Wait);
        }
        assert_eq!(sh.feed(b"$ "), Step::Type("next\n".into()));
    }

    #[test]
    fn output_on_the_prompt_line_after_a_prompt_does_not_stall() {
        let cmds = commands(&["pingpong"]);
        let mut sh = Shell::new(&cmds, None);
        // The prompt and what follows it arrive in one read.
        assert_eq!(sh.feed(b"$ "), Step::Type("pingpong\n".into()));
        assert_eq!(
            sh.feed(b"pingpong\n4: received ping\n$ 3: received pong\n"),
            Step::Finished
        );
    }

    #[test]
    fn a_late_prompt_counts_once_quiet() {
        let cmds = commands(&["cat f"]);
        let mut sh = Shell::new(&cmds, None);
        assert_eq!(sh.feed(b"$ "), Step::Type("cat f\n".into()));
        assert!(
            !sh.ends_in_late_prompt(),
            "the echo line is not a late prompt"
        );
        assert_eq!(sh.feed(b"cat f\nno newline$ "), Step::Wait);
        assert!(sh.ends_in_late_prompt());
        assert_eq!(sh.quiet(), Step::Finished);
    }

    #[test]
    fn until_replaces_the_last_prompt() {
        let cmds = commands(&["sh < script"]);
        let until = Regex::new("^DONE$").unwrap();
        let mut sh = Shell::new(&cmds, Some(&until));
        assert_eq!(sh.feed(b"$ "), Step::Type("sh < script\n".into()));
        assert_eq!(sh.feed(b"sh < script\n$ $ "), Step::Wait);
        assert_eq!(
            sh.waiting_for(),
            "a line matching /^DONE$/ after `sh < script`"
        );
        assert_eq!(sh.feed(b"DONE\n"), Step::Finished);
    }

    #[test]
    fn a_panic_is_reported_once_and_wins() {
        let cmds = commands(&["x"]);
        let mut sh = Shell::new(&cmds, None);
        assert_eq!(sh.waiting_for(), "the shell's first prompt");
        assert_eq!(sh.feed(b"booting\npanic: kerneltrap (hart 1)"), Step::Panic);
        assert_eq!(sh.panic_line(), Some("panic: kerneltrap (hart 1)"));
        assert_eq!(sh.feed(b"\nbacktrace:\n$ "), Step::Wait);
        assert_eq!(sh.panic_line(), Some("panic: kerneltrap (hart 1)"));
    }

    const KEY: [u8; 16] = *b"a run's own key!";

    /// The closing line of `args` (its program's name first) under `KEY`.
    fn closing_line(args: &[&str], nonce: u64, lines: u32) -> String {
        let name = args[0];
        let key = abi::tok::command_key(&KEY, args.iter().map(|a| a.as_bytes()));
        let text = abi::tok::closing_text(lines).to_string();
        let mac = abi::tok::mac(&key, name, nonce, lines, text.as_bytes());
        let token = abi::tok::Token {
            name,
            nonce,
            seq: lines,
            mac,
        };
        format!("{text}{token}\n")
    }

    #[test]
    fn a_tokened_command_ends_only_after_its_closing_token() {
        let cmds = commands(&["usertests -q", "echo x"]);
        let mut sh = Shell::new(&cmds, None);
        sh.expect_tokens(KEY);
        assert_eq!(sh.feed(b"$ "), Step::Type("usertests -q\n".into()));
        // A prompt the kernel prints early is not the end.
        assert_eq!(
            sh.feed(b"usertests -q\nusertests starting\n$ "),
            Step::Unclosed
        );
        // Nor is a closing line of another program, another key or count.
        let mut forged = closing_line(&["cowtest"], 1, 0);
        forged.push_str(&closing_line(&["usertests", "-q"], 1, 0).replace(".0.", ".1."));
        // usertests, but not the command line typed.
        forged.push_str(&closing_line(&["usertests"], 1, 0));
        forged.push_str("#t-end 0 lines\n$ ");
        assert_eq!(sh.feed(forged.as_bytes()), Step::Unclosed);
        // After other output on its line, as alarmtest's dots can be.
        let real = format!("..{}$ ", closing_line(&["usertests", "-q"], 9, 3));
        assert_eq!(sh.feed(real.as_bytes()), Step::Type("echo x\n".into()));
        // echo has no tokens: its prompt ends it.
        assert_eq!(sh.feed(b"echo x\nx\n$ "), Step::Finished);
        assert!(sh.unclosed().is_empty());
    }

    #[test]
    fn giving_up_on_a_closing_token_goes_on_and_says_so() {
        let cmds = commands(&["cowtest", "randlab cow 1 2 3"]);
        let mut sh = Shell::new(&cmds, None);
        sh.expect_tokens(KEY);
        assert_eq!(sh.give_up(), Step::Wait, "nothing to give up on yet");
        assert_eq!(sh.feed(b"$ "), Step::Type("cowtest\n".into()));
        assert_eq!(sh.feed(b"cowtest\n$ "), Step::Unclosed);
        assert_eq!(sh.give_up(), Step::Type("randlab cow 1 2 3\n".into()));
        assert_eq!(sh.unclosed(), ["cowtest"]);
        let end = format!(
            "randlab cow 1 2 3\n{}$ ",
            closing_line(&["randlab", "cow", "1", "2", "3"], 4, 2)
        );
        assert_eq!(sh.feed(end.as_bytes()), Step::Finished);
        assert_eq!(sh.unclosed(), ["cowtest"]);
    }

    #[test]
    fn commands_give_their_tokened_programs_arguments() {
        assert_eq!(
            tokened_command("trace 2 usertests forkforkfork"),
            Some(("usertests", vec!["usertests", "forkforkfork"]))
        );
        assert_eq!(
            tokened_command("find . b | tok xargs grep hello"),
            Some(("tok", vec!["tok", "xargs", "grep", "hello"]))
        );
        assert_eq!(
            tokened_command("cat < d/f | tok cat"),
            Some(("tok", vec!["tok", "cat"]))
        );
        assert_eq!(
            tokened_command("(echo 1 ; echo 2) | tok xargs echo line"),
            Some(("tok", vec!["tok", "xargs", "echo", "line"]))
        );
        assert_eq!(
            tokened_command("usertests killstatus > out"),
            Some(("usertests", vec!["usertests", "killstatus"]))
        );
        assert_eq!(tokened_command("sleep 1000 &"), None);
    }

    #[test]
    fn commands_name_their_tokened_programs() {
        assert_eq!(tokened_program("usertests -q"), Some("usertests"));
        assert_eq!(
            tokened_program("trace 2 usertests forkforkfork"),
            Some("usertests")
        );
        assert_eq!(tokened_program("echo hello | tok cat"), Some("tok"));
        assert_eq!(tokened_program("grep usertests README"), Some("usertests"));
        assert_eq!(tokened_program("echo hello"), None);
        assert_eq!(tokened_program("mycowtest"), None);
    }

    #[test]
    fn the_key_goes_into_the_tokened_programs_only() {
        let mut program = vec![0x11u8; 3000];
        let slot_at = 1024 + 64 * 5;
        program[slot_at..slot_at + 16].copy_from_slice(&abi::tok::MARKER);
        // A marker that is not at a slot's alignment is left alone.
        program[100..116].copy_from_slice(&abi::tok::MARKER);
        // A large file, through the indirect block.
        let mut big = vec![0x22u8; 20 * 1024];
        big[15 * 1024..15 * 1024 + 16].copy_from_slice(&abi::tok::MARKER);
        let files = vec![
            ("cowtest".to_string(), program.clone()),
            ("usertests".to_string(), big),
            // A student's program with a marker gets no key.
            ("sleep".to_string(), program),
        ];
        let mut img = mkfs::make_image(2000, &files).unwrap();
        let before = img.clone();
        let key = *b"0123456789abcdef";
        assert_eq!(patch_key(&mut img, &key), Some(2));
        let slots: Vec<usize> = img
            .windows(32)
            .enumerate()
            .filter(|(_, w)| w[..16] == abi::tok::MARKER && w[16..] == key)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(slots.len(), 2, "{slots:?}");
        let changed = img.iter().zip(&before).filter(|(a, b)| a != b).count();
        assert!(changed <= 32, "{changed} bytes changed");
        assert_eq!(patch_key(&mut vec![0u8; 4096], &key), None);
        assert_eq!(patch_key(&mut Vec::new(), &key), None);
    }

    #[test]
    fn the_grace_for_a_closing_token_is_a_few_seconds() {
        assert_eq!(
            closing_grace(Duration::from_secs(30)),
            Duration::from_secs(3)
        );
        assert_eq!(
            closing_grace(Duration::from_secs(600)),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn counts_ok_lines_for_progress() {
        let cmds = commands(&[]);
        let mut sh = Shell::new(&cmds, None);
        sh.feed(b"test a: OK\ntest b: usertrap()\nOK\ntest c: FAILED\ntest d: O");
        assert_eq!(sh.ok_lines(), 2);
        sh.feed(b"K\n");
        assert_eq!(sh.ok_lines(), 3);
    }
}
