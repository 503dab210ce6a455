//! How to start QEMU for this kernel. Shared by the grader and `cargo xtask
//! qemu`/`gdb`, which add their own console and debugging options.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

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
        [
            "-global",
            "virtio-mmio.force-legacy=false",
            "-drive",
        ]
        .iter()
        .map(OsString::from),
    );
    args.push(drive);
    args.extend(
        ["-device", "virtio-blk-device,drive=x0,bus=virtio-mmio-bus.0"]
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
            "{QEMU} not found: install it with `apt-get install -y qemu-system-misc` \
             (or run `cargo xtask setup` as root)"
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
}
