//! `mkfs <fs.img> <file>...`: writes an xv6 image of FSSIZE blocks holding
//! the files in its root directory, under their base names.
//!
//! `mkfs --check [--no-replay] [--crashed] <fs.img>`: checks an image (see
//! `mkfs::check`) and prints what is wrong; exit status 0 when it is
//! consistent, 1 when it is not, 2 when it cannot be read.

use std::path::Path;
use std::process::ExitCode;

use abi::param::FSSIZE;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--check") {
        return check(&args[1..]);
    }
    let Some((image, inputs)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(Path::new(image), inputs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mkfs: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str =
    "usage: mkfs <fs.img> <file>...\n       mkfs --check [--no-replay] [--crashed] <fs.img>";

fn check(args: &[String]) -> ExitCode {
    let mut opts = mkfs::check::Options::default();
    let mut image = None;
    for a in args {
        match a.as_str() {
            "--no-replay" => opts.no_replay = true,
            "--crashed" => opts.crashed = true,
            _ if a.starts_with('-') || image.is_some() => {
                eprintln!("mkfs: unexpected argument `{a}`\n{USAGE}");
                return ExitCode::from(2);
            }
            _ => image = Some(a),
        }
    }
    let Some(image) = image else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(image) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("mkfs: cannot read {image}: {e}");
            return ExitCode::from(2);
        }
    };
    let report = mkfs::check::check(&bytes, opts);
    print!("{image}: {report}");
    if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run(image: &Path, inputs: &[String]) -> Result<(), String> {
    let mut files = Vec::with_capacity(inputs.len());
    for input in inputs {
        let data = std::fs::read(input).map_err(|e| format!("cannot read {input}: {e}"))?;
        files.push((stored_name(input), data));
    }
    let bytes = mkfs::make_image(FSSIZE, &files).map_err(|e| e.to_string())?;
    write_atomically(image, &bytes).map_err(|e| format!("cannot write {}: {e}", image.display()))
}

/// The base name, without the `_` that xv6's build puts before program
/// names, so its `_cat` is stored as `cat`.
fn stored_name(input: &str) -> String {
    let base = Path::new(input)
        .file_name()
        .map_or_else(|| input.to_string(), |n| n.to_string_lossy().into_owned());
    match base.strip_prefix('_') {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ => base,
    }
}

/// Writes a temporary file beside `path` and renames it over `path`, so a
/// QEMU starting meanwhile sees the old image or the new one, never half.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::stored_name;

    #[test]
    fn stores_base_names_without_xv6_underscore() {
        assert_eq!(stored_name("user/_cat"), "cat");
        assert_eq!(stored_name("/a/b/README"), "README");
        assert_eq!(stored_name("_"), "_");
        assert_eq!(stored_name("x_y"), "x_y");
    }
}
