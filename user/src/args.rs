//! Program entry and command-line arguments.

use core::ffi::CStr;

/// The arguments `exec` passed: `argv[0]` is the program name.
#[derive(Clone, Copy)]
pub struct Args {
    argc: usize,
    argv: *const *const u8,
}

impl Args {
    pub fn len(&self) -> usize {
        self.argc
    }

    pub fn is_empty(&self) -> bool {
        self.argc == 0
    }

    /// Argument `i` as bytes, without its NUL.
    pub fn bytes(&self, i: usize) -> Option<&'static [u8]> {
        if i >= self.argc {
            return None;
        }
        // SAFETY: exec placed `argc` valid pointers to NUL-terminated strings
        // on the stack, which live as long as the program.
        unsafe {
            let p = *self.argv.add(i);
            Some(CStr::from_ptr(p.cast()).to_bytes())
        }
    }

    /// Replaces the program with `path`, passing arguments `from..` of this
    /// program's own (no copies, no heap: the strings and the null-ended
    /// pointer array exec built are passed on as they are).
    pub fn exec_from(&self, from: usize) -> i32 {
        if from >= self.argc {
            return -1;
        }
        // SAFETY: argv holds argc pointers to NUL-terminated strings and a
        // null pointer after them, as exec laid them out.
        unsafe {
            let rest = self.argv.add(from);
            crate::sys::exec(*rest, rest) as i32
        }
    }

    /// Argument `i` as text (up to its first byte that is not UTF-8).
    pub fn get(&self, i: usize) -> Option<&'static str> {
        let b = self.bytes(i)?;
        Some(match core::str::from_utf8(b) {
            Ok(s) => s,
            // The prefix up to `valid_up_to` is valid UTF-8 by definition.
            Err(e) => core::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or(""),
        })
    }

    /// All arguments, `argv[0]` first.
    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        (0..self.argc).filter_map(move |i| self.get(i))
    }

    /// All arguments as bytes, `argv[0]` first (paths are bytes, not text).
    pub fn iter_bytes(&self) -> impl Iterator<Item = &'static [u8]> + '_ {
        (0..self.argc).filter_map(move |i| self.bytes(i))
    }
}

unsafe extern "Rust" {
    /// Defined by the program with [`entry!`](crate::entry).
    fn __user_main(args: Args) -> i32;
}

/// Where `exec` starts a program: a0 = argc, a1 = argv.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".text._start")]
extern "C" fn _start(argc: usize, argv: *const *const u8) -> ! {
    let args = Args { argc, argv };
    crate::tok::started(args);
    // SAFETY: every program defines `__user_main` through `entry!`.
    let status = unsafe { __user_main(args) };
    crate::exit(status)
}
