//! `cargo xtask fsck [--lab L] [--no-replay] [--crashed] [IMG]`: checks an
//! xv6 image with `mkfs::check`; without IMG, the disk `cargo xtask qemu`
//! writes to (`target/xv6/<config>/disk.img`), or `fs.img` before there is one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mkfs::check::{Options, check};

use crate::labs::LabSet;
use crate::run::Ctx;

/// The image to check: `image`, or the default one of configuration `labs`.
pub fn image_path(ctx: &Ctx, labs: LabSet, image: Option<&Path>) -> PathBuf {
    match image {
        Some(path) => path.to_path_buf(),
        None => {
            let dir = ctx.xv6_dir().join(labs.config_name());
            let disk = crate::qemu::disk_path(&dir);
            if disk.is_file() {
                disk
            } else {
                dir.join("fs.img")
            }
        }
    }
}

/// Prints the report; exit status 0 when the image is consistent, 1 when not.
pub fn run(ctx: &Ctx, image: &Path, opts: Options) -> Result<ExitCode, String> {
    let bytes =
        std::fs::read(image).map_err(|e| format!("cannot read {}: {e}", ctx.show(image)))?;
    let report = check(&bytes, opts);
    print!("fsck {}: {report}", ctx.show(image));
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
