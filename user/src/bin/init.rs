#![no_std]
#![no_main]
//! init: the first user process. Opens the console as fds 0, 1 and 2,
//! creates the `statistics` device file (the pgtbl lab's), then keeps a shell running.

use user::*;

entry!(main);

fn main(_args: Args) -> i32 {
    if open("console", O_RDWR) < 0 {
        mknod("console", abi::dev::CONSOLE, 0);
        open("console", O_RDWR);
    }
    dup(0); // standard output
    dup(0); // standard error
    // The pgtbl lab's statistics device. As in xv6, a kernel without it
    // opens the file but fails its reads.
    let fd = open("statistics", O_RDONLY);
    if fd < 0 {
        mknod("statistics", abi::dev::STATISTICS, 0);
    } else {
        close(fd);
    }

    loop {
        println!("init: starting sh");
        let pid = fork();
        if pid < 0 {
            println!("init: fork failed");
            return 1;
        }
        if pid == 0 {
            exec("sh", &["sh"]);
            println!("init: exec sh failed");
            return 1;
        }
        // Only the shell is ours: the kernel frees orphans itself (xv6
        // gives them to init).
        loop {
            let wpid = wait(None);
            if wpid == pid {
                break;
            }
            if wpid < 0 {
                println!("init: wait returned an error");
                return 1;
            }
        }
    }
}
