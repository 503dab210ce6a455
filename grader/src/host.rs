//! Host runs (`host = true` in a spec's run): each command is a program
//! built from the tree, run on the host with its arguments instead of being
//! typed at xv6's shell (the thread lab's `ph` and `barrier`, which MIT
//! grades on the host too). The run has the same timeout, output limit,
//! log and checks as a QEMU run; its console is `$ <command>` and then the
//! program's output (stdout and stderr, as they come), for each command.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crate::qemu::{End, Kept, OUTPUT_LIMIT, Transcript, forward};

/// How often a running program is checked on (cancel, exit, deadline).
const POLL: Duration = Duration::from_millis(50);
/// How long output is still read after a program exited, from what it
/// started and left running.
const EXIT_GRACE: Duration = Duration::from_millis(200);

/// The host cores this machine has.
pub fn cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
}

/// Runs `commands` one after the other, each a program of `dir` and its
/// arguments, within `timeout` in all. Errors only if a program cannot be
/// started at all.
pub fn run(
    dir: &Path,
    commands: &[String],
    timeout: Duration,
    cancel: &AtomicBool,
) -> io::Result<Transcript> {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut kept = Kept::default();
    let mut end = End::Finished;
    'commands: for command in commands {
        let mut words = command.split_whitespace();
        let program = dir.join(words.next().unwrap_or_default());
        kept.push(format!("$ {command}\n").as_bytes());
        let mut child = Command::new(&program)
            .args(words)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that a timeout ends whatever it
            // started too.
            .process_group(0)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", program.display())))?;
        let pid = child.id();
        let out = forward(child.stdout.take().expect("stdout is piped"));
        let err = forward(child.stderr.take().expect("stderr is piped"));
        let kill = |child: &mut std::process::Child| {
            if let Ok(pgid) = i32::try_from(pid) {
                // SAFETY: kill(2) on the process group this run created;
                // it has no memory-safety preconditions.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
            }
            let _ = child.kill();
            let _ = child.wait();
        };
        let (mut out_open, mut err_open) = (true, true);
        let mut exited_at: Option<Instant> = None;
        loop {
            for (rx, open) in [(&out, &mut out_open), (&err, &mut err_open)] {
                while *open {
                    match rx.try_recv() {
                        Ok(bytes) => kept.push(&bytes),
                        Err(std::sync::mpsc::TryRecvError::Empty) => break,
                        Err(std::sync::mpsc::TryRecvError::Disconnected) => *open = false,
                    }
                }
            }
            if kept.total() > OUTPUT_LIMIT {
                kill(&mut child);
                end = End::OutputLimit {
                    printed: kept.total(),
                };
                break 'commands;
            }
            if cancel.load(Ordering::Relaxed) {
                kill(&mut child);
                end = End::Cancelled;
                break 'commands;
            }
            if exited_at.is_none() && child.try_wait()?.is_some() {
                exited_at = Some(Instant::now());
            }
            if let Some(at) = exited_at
                && ((!out_open && !err_open) || at.elapsed() > EXIT_GRACE)
            {
                // What it left behind holding its output goes with it.
                kill(&mut child);
                break;
            }
            if Instant::now() >= deadline {
                kill(&mut child);
                end = End::Timeout {
                    waiting_for: format!("`{command}` to exit"),
                };
                break 'commands;
            }
            // Wait for output (or the poll interval) before looking again.
            let (rx, open) = if out_open {
                (&out, &mut out_open)
            } else {
                (&err, &mut err_open)
            };
            if *open {
                match rx.recv_timeout(POLL) {
                    Ok(bytes) => kept.push(&bytes),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => *open = false,
                }
            } else {
                std::thread::sleep(POLL);
            }
        }
    }
    Ok(Transcript {
        output: kept.into_bytes(),
        end,
        elapsed: start.elapsed(),
        trust: None,
    })
}
