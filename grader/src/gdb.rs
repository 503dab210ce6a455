//! Stopping a graded kernel at a breakpoint through gdb, for a run's
//! `stop_at` (util's "sleep makes syscall", as MIT's grader does it).
//!
//! QEMU starts stopped with its gdb stub on a Unix socket; gdb-multiarch,
//! driven through its machine interface, loads the kernel's symbols and
//! xv6's names for its functions (`xv6-names.o` beside the kernel, which
//! `cargo xtask build` writes), sets the breakpoint and lets the kernel
//! run. The run ends when gdb reports the breakpoint hit. What the guest
//! prints cannot fake that: the grader reads it from gdb, not the console.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use crate::qemu::{self, Running};

/// The debugger: Debian's gdb for every architecture.
pub const GDB: &str = "gdb-multiarch";

/// xv6's names for the kernel's functions, beside the kernel ELF.
pub const NAMES_FILE: &str = "xv6-names.o";

/// How long QEMU may take to make its gdb socket.
const SOCKET_WAIT: Duration = Duration::from_secs(20);

/// A run's breakpoint: the function (as gdb takes it: `sys_sleep`) and the
/// kernel whose symbols name it.
#[derive(Debug, Clone)]
pub struct StopAt<'a> {
    pub function: &'a str,
    pub kernel: &'a Path,
}

/// What gdb reported.
#[derive(Debug, PartialEq)]
pub enum Event {
    /// The kernel stopped at the breakpoint.
    Stopped,
    /// gdb could not set the breakpoint or attach, or it ended: why.
    Failed(String),
}

/// Whether gdb-multiarch can be run here.
pub fn available() -> bool {
    qemu::find_in_path(GDB).is_some()
}

/// Why a `stop_at` run is not run where gdb is missing.
pub fn missing() -> String {
    format!(
        "not run: it stops the kernel at a breakpoint through gdb, and {GDB} is not \
         installed (Debian: apt-get install {GDB})"
    )
}

/// A fresh directory for one run's gdb socket (removed when the
/// [`Debugger`] is dropped).
pub fn socket_dir() -> io::Result<PathBuf> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("xv6-gdb-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

/// QEMU's arguments to start stopped, its gdb stub on `socket`.
pub fn qemu_args(socket: &Path) -> Vec<OsString> {
    let chardev = format!(
        "socket,path={},server=on,wait=off,id=gdb0",
        socket.to_string_lossy().replace(',', ",,")
    );
    ["-S", "-chardev", &chardev, "-gdb", "chardev:gdb0"]
        .iter()
        .map(OsString::from)
        .collect()
}

/// gdb for one run's QEMU: waiting for its socket, then attached and
/// waiting for the breakpoint.
pub struct Debugger {
    commands: Result<String, String>,
    socket: PathBuf,
    deadline: Instant,
    gdb: Option<Attached>,
}

struct Attached {
    // Dropped first: gdb ends before its socket's directory goes.
    _gdb: Running,
    // Kept open: gdb would end at the end of its input.
    _stdin: ChildStdin,
    out: Receiver<Vec<u8>>,
    line: Vec<u8>,
}

impl Drop for Debugger {
    fn drop(&mut self) {
        drop(self.gdb.take());
        if let Some(dir) = self.socket.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A C string of gdb's machine interface, quoted.
fn mi_quote(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                q.push('\\');
                q.push(c);
            }
            '\n' => q.push_str("\\n"),
            _ => q.push(c),
        }
    }
    q.push('"');
    q
}

/// The commands that attach gdb to the stub on `socket`, set the
/// breakpoint and let the kernel run. Without xv6's names beside the
/// kernel (a kernel built by other means than `cargo xtask`), the
/// breakpoint goes on the entry of each function of the kernel's symbol
/// table so named (`sys_sleep`, the last part of its Rust path); a name
/// neither knows is an error.
pub fn commands(stop: &StopAt, socket: &Path) -> Result<String, String> {
    // gdb's own commands, each a C string of the machine interface: `file`
    // and `target remote` take the rest of their line as the path.
    let mut cli = vec![
        "set confirm off".to_owned(),
        "set pagination off".to_owned(),
        "set architecture riscv:rv64".to_owned(),
        format!("file {}", stop.kernel.display()),
    ];
    let names = names_of(stop.kernel);
    if let Some((names, text)) = &names {
        cli.push(format!("add-symbol-file {names} {text:#x}"));
    }
    cli.push(format!("target remote {}", socket.display()));
    let mut c: String = cli
        .iter()
        .map(|l| format!("-interpreter-exec console {}\n", mi_quote(l)))
        .collect();
    if names.is_some() {
        c.push_str(&format!("-break-insert {}\n", mi_quote(stop.function)));
    } else {
        let at = entries(stop.kernel, stop.function);
        if at.is_empty() {
            return Err(format!(
                "no function {} in {} (and no {NAMES_FILE} beside it, which `cargo xtask build \
                 --gdb-names` writes)",
                stop.function,
                stop.kernel.display()
            ));
        }
        for a in at {
            c.push_str(&format!("-break-insert *{a:#x}\n"));
        }
    }
    c.push_str("-exec-continue\n");
    Ok(c)
}

/// The addresses of the kernel's functions whose name (the last part of
/// the path) is `function`.
fn entries(kernel: &Path, function: &str) -> Vec<u64> {
    use object::{Object, ObjectSymbol, SymbolKind};
    let Ok(elf) = std::fs::read(kernel) else {
        return Vec::new();
    };
    let Ok(file) = object::File::parse(&*elf) else {
        return Vec::new();
    };
    let mut at: Vec<u64> = file
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.is_definition())
        .filter(|s| {
            s.name()
                .is_ok_and(|n| crate::symbols::short_name(n) == function)
        })
        .map(|s| s.address())
        .collect();
    at.sort_unstable();
    at.dedup();
    at
}

/// The names file beside `kernel` and the kernel's `.text` address, where
/// gdb loads it.
fn names_of(kernel: &Path) -> Option<(String, u64)> {
    use object::{Object, ObjectSection};
    let names = kernel.parent()?.join(NAMES_FILE);
    let time = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    // Names of an older kernel would put breakpoints anywhere.
    if time(&names)? < time(kernel)? {
        return None;
    }
    let elf = std::fs::read(kernel).ok()?;
    let file = object::File::parse(&*elf).ok()?;
    let text = file.section_by_name(".text")?.address();
    Some((names.to_string_lossy().into_owned(), text))
}

impl Debugger {
    /// gdb for the QEMU that makes `socket` (in a [`socket_dir`]): it
    /// starts once the socket is there.
    pub fn new(stop: &StopAt, socket: &Path) -> Debugger {
        Debugger {
            commands: commands(stop, socket),
            socket: socket.to_path_buf(),
            deadline: Instant::now() + SOCKET_WAIT,
            gdb: None,
        }
    }

    fn attach(&self) -> Result<Attached, String> {
        let mut command = Command::new(GDB);
        command
            .args(["-q", "-nx", "-nh", "--interpreter=mi2"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut gdb = Running::spawn(command).map_err(|e| format!("cannot start {GDB}: {e}"))?;
        let commands = self.commands.as_ref().map_err(String::clone)?;
        let mut stdin = gdb.child.stdin.take().expect("stdin is piped");
        let out = qemu::forward(gdb.child.stdout.take().expect("stdout is piped"));
        stdin
            .write_all(commands.as_bytes())
            .map_err(|e| format!("cannot talk to {GDB}: {e}"))?;
        Ok(Attached {
            _gdb: gdb,
            _stdin: stdin,
            out,
            line: Vec::new(),
        })
    }

    /// What gdb reported since the last call, if it matters; starts gdb
    /// when QEMU's socket has come.
    pub fn poll(&mut self) -> Option<Event> {
        if self.gdb.is_none() {
            if !self.socket.exists() {
                return (Instant::now() > self.deadline).then(|| {
                    Event::Failed(format!("QEMU made no gdb socket within {SOCKET_WAIT:?}"))
                });
            }
            match self.attach() {
                Ok(a) => self.gdb = Some(a),
                Err(e) => return Some(Event::Failed(e)),
            }
        }
        let gdb = self.gdb.as_mut()?;
        loop {
            match gdb.out.try_recv() {
                Ok(bytes) => {
                    for b in bytes {
                        if b != b'\n' {
                            gdb.line.push(b);
                            continue;
                        }
                        let line = String::from_utf8_lossy(&gdb.line).into_owned();
                        gdb.line.clear();
                        if let Some(e) = event(&line) {
                            return Some(e);
                        }
                    }
                }
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => {
                    return Some(Event::Failed(format!("{GDB} ended before the breakpoint")));
                }
            }
        }
    }
}

/// The event one line of gdb's machine interface reports.
pub fn event(line: &str) -> Option<Event> {
    let line = line.trim_end_matches('\r');
    if let Some(rest) = line.strip_prefix("*stopped,") {
        return rest
            .starts_with("reason=\"breakpoint-hit\"")
            .then_some(Event::Stopped);
    }
    let rest = line.strip_prefix("^error,msg=")?;
    let msg = rest.trim_matches('"').replace("\\\"", "\"");
    Some(Event::Failed(format!("gdb: {msg}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_stop_at_a_breakpoint_and_errors_only() {
        assert_eq!(
            event(
                r#"*stopped,reason="breakpoint-hit",disp="keep",bkptno="1",frame={addr="0x80013b4a",func="sys_sleep"}"#
            ),
            Some(Event::Stopped)
        );
        // The stop at attaching (QEMU starts stopped) is not the breakpoint.
        assert_eq!(
            event(r#"*stopped,frame={addr="0x0000000000001000"},thread-id="1""#),
            None
        );
        assert_eq!(
            event(r#"*stopped,reason="signal-received",signal-name="SIGINT""#),
            None
        );
        assert_eq!(
            event(r#"^error,msg="Function \"sys_slep\" not defined.""#),
            Some(Event::Failed(
                r#"gdb: Function "sys_slep" not defined."#.into()
            ))
        );
        // What the console or gdb's own chatter says is nothing.
        for line in [
            "^done,bkpt={number=\"1\"}",
            "~\"Breakpoint 1, sys_sleep ()\\n\"",
            "=breakpoint-modified,bkpt={}",
            "Breakpoint 1, sys_sleep ()",
            "^running",
        ] {
            assert_eq!(event(line), None, "{line}");
        }
    }

    #[test]
    fn commands_quote_paths_and_end_with_continue() {
        // A kernel without names beside it: this test binary, whose symbol
        // table has this function.
        let kernel = std::env::temp_dir().join(format!("no such \"dir\" {}", std::process::id()));
        std::fs::create_dir_all(&kernel).unwrap();
        let kernel = kernel.join("kernel");
        std::fs::copy(std::env::current_exe().unwrap(), &kernel).unwrap();
        let stop = StopAt {
            function: "commands_quote_paths_and_end_with_continue",
            kernel: &kernel,
        };
        let c = commands(&stop, Path::new("/tmp/x/gdb.sock")).unwrap();
        let file = format!("file {}", kernel.display()).replace('"', "\\\"");
        assert!(
            c.contains(&format!("-interpreter-exec console \"{file}\"\n")),
            "{c}"
        );
        assert!(
            c.contains("-interpreter-exec console \"target remote /tmp/x/gdb.sock\"\n"),
            "{c}"
        );
        assert!(c.ends_with("-exec-continue\n"), "{c}");
        // No names file: none loaded, and the breakpoint is on the symbol.
        assert!(!c.contains("add-symbol-file"), "{c}");
        assert!(c.contains("-break-insert *0x"), "{c}");
        let nothing = StopAt {
            function: "no_function_is_named_this",
            kernel: &kernel,
        };
        let e = commands(&nothing, Path::new("/s")).unwrap_err();
        assert!(
            e.contains("no function no_function_is_named_this in "),
            "{e}"
        );
        // With names beside it (newer than the kernel), gdb takes the name.
        std::fs::write(kernel.with_file_name(NAMES_FILE), "").unwrap();
        let stop = StopAt {
            function: "sys_sleep",
            kernel: &kernel,
        };
        let c = commands(&stop, Path::new("/s")).unwrap();
        assert!(c.contains("add-symbol-file "), "{c}");
        assert!(c.contains("-break-insert \"sys_sleep\"\n"), "{c}");
        std::fs::remove_dir_all(kernel.parent().unwrap()).unwrap();
    }
}
