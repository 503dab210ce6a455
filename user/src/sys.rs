//! Raw system call stubs, generated from the ABI table (`abi::syscall_table!`).
//!
//! Each is `unsafe`: it passes raw pointers to the kernel exactly as given,
//! which is what xv6's C stubs do and what tests of bad pointers need.

use core::arch::asm;

/// Traps into the kernel with system call `num` and six argument registers.
///
/// # Safety
/// The kernel may read or write memory at any pointer among `args`.
#[inline(always)]
pub unsafe fn syscall(num: usize, args: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: `ecall` transfers to the kernel, which returns to the next
    // instruction with the result in a0 and all other registers preserved.
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") args[0] => ret,
            in("a1") args[1],
            in("a2") args[2],
            in("a3") args[3],
            in("a4") args[4],
            in("a5") args[5],
            in("a7") num,
            options(nostack),
        );
    }
    ret
}

macro_rules! define_stubs {
    ($($name:ident = $num:literal ($($arg:ident : $ty:ty),*);)*) => {
        $(
            #[doc = concat!("System call `", stringify!($name), "` (", stringify!($num), ").")]
            ///
            /// # Safety
            /// Pointer arguments go to the kernel unchecked.
            #[inline(always)]
            pub unsafe fn $name($($arg: $ty),*) -> isize {
                let given = [$($arg as usize),*];
                let mut args = [0usize; 6];
                args[..given.len()].copy_from_slice(&given);
                // SAFETY: the caller vouches for the pointer arguments.
                unsafe { syscall(abi::syscall::nr::$name, args) }
            }
        )*
    };
}

abi::syscall_table!(define_stubs);
