//! `hostprobe WORD... [--threads N]`: the end-to-end tests' host program.
//! Prints `hostprobe: WORD...`, then, with `--threads N`, one line from
//! each of N threads and the count of host cores it saw, so that a test
//! can tell a host run started the program built from the tree with its
//! arguments.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (words, threads) = match args.iter().position(|a| a == "--threads") {
        Some(i) => (
            &args[..i],
            args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(1),
        ),
        None => (&args[..], 0),
    };
    println!("hostprobe: {}", words.join(" "));
    let handles: Vec<_> = (0..threads)
        .map(|t| std::thread::spawn(move || format!("hostprobe: thread {t} ran")))
        .collect();
    let mut lines: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    lines.sort();
    for l in lines {
        println!("{l}");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!("hostprobe: {cores} cores");
}
