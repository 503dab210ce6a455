//! `cargo xtask build`: the kernel for a lab configuration, the user
//! programs, the C ABI test and the file system image, into
//! `<target>/xv6/<config>/`.
//!
//! Cargo decides whether the kernel and programs need compiling; every step
//! after it compares mtimes, so an unchanged tree writes nothing. Builds
//! take a lock: cargo's output files are shared by all configurations, and
//! two builds (or graders) may run at once.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::process::Command;

use abi::fs::Layout;
use abi::param::FSSIZE;

use crate::fsutil::{self, AtomicFile, stale};
use crate::labs::LabSet;
use crate::run::{Ctx, Env, KERNEL_PACKAGE, USER_PACKAGE};
use crate::{listing, setup, usys};

/// What one configuration's build leaves in its directory.
pub struct Outputs {
    pub dir: PathBuf,
    pub kernel: PathBuf,
    pub fs_img: PathBuf,
}

/// Builds everything for `labs`.
pub fn build(ctx: &Ctx, labs: &LabSet) -> Result<Outputs, String> {
    setup::ensure_target(ctx)?;
    let xv6 = ctx.xv6_dir();
    let config = labs.config_name();
    let dir = xv6.join(&config);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let _lock = lock(&xv6.join(".lock"))?;

    let kernel_elf = build_kernel(ctx, labs)?;
    crate::frames::check_kernel(&kernel_elf)?;
    let programs = build_user_programs(ctx)?;
    let abitest = build_abitest(ctx)?;

    // Generated files also depend on the code that generates them.
    let xtask =
        std::env::current_exe().map_err(|e| format!("cannot find the xtask executable: {e}"))?;
    let out = Outputs {
        kernel: dir.join("kernel"),
        fs_img: dir.join("fs.img"),
        dir,
    };
    let mut written = Vec::new();
    if stale(&out.kernel, &[&kernel_elf]) {
        fsutil::copy(&kernel_elf, &out.kernel)?;
        written.push("kernel");
    }
    let sym = out.dir.join("kernel.sym");
    if stale(&sym, &[&out.kernel, &xtask]) {
        listing::write_symbols(&out.kernel, &sym)?;
        written.push("kernel.sym");
    }
    let asm = out.dir.join("kernel.asm");
    if stale(&asm, &[&out.kernel, &xtask]) {
        match setup::disassembler(ctx) {
            Some(dis) => {
                if listing::write_disassembly(ctx, &dis, &out.kernel, &asm) {
                    written.push("kernel.asm");
                }
            }
            None => eprintln!(
                "note: no llvm-objdump (rustup component add llvm-tools) or \
                 riscv64-linux-gnu-objdump: kernel.asm not written"
            ),
        }
    }
    let mut files = vec![("README".to_string(), ctx.root.join("user/README"))];
    files.extend(programs);
    if let Some(abitest) = abitest {
        files.push(("abitest".to_string(), abitest));
    }
    if image_stale(&out.fs_img, &files, &xtask) {
        make_image(ctx, &out.fs_img, image_params(labs)?, &files)?;
        written.push("fs.img");
    }

    let where_ = ctx.show(&out.dir);
    if written.is_empty() {
        eprintln!("xv6: {where_} is up to date");
    } else {
        eprintln!("xv6: wrote {} in {where_}", written.join(", "));
    }
    Ok(out)
}

/// Holds `path` locked until dropped, saying so when another build has it.
fn lock(path: &Path) -> Result<File, String> {
    let file = File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            eprintln!("xv6: waiting for another build to finish");
            file.lock()
                .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
        }
        Err(TryLockError::Error(e)) => {
            return Err(format!("cannot lock {}: {e}", path.display()));
        }
    }
    Ok(file)
}

/// Builds host programs (binaries of the tree's host crates) for a spec's
/// host runs, optimised as they are timed; returns the directory they are
/// in.
pub fn build_host(ctx: &Ctx, programs: &[String]) -> Result<PathBuf, String> {
    let mut args = vec!["build".to_owned(), "--release".to_owned()];
    for p in programs {
        args.extend(["--bin".to_owned(), p.clone()]);
    }
    ctx.run(&mut ctx.cargo(Env::Host, args)).map_err(|_| {
        format!(
            "building the host programs {} failed (cargo's errors are above)",
            programs.join(", ")
        )
    })?;
    Ok(ctx.target_dir.join("release"))
}

/// Builds the kernel with the labs' features in a cargo call of its own, so
/// no other crate's features unify into it. Returns cargo's ELF.
fn build_kernel(ctx: &Ctx, labs: &LabSet) -> Result<PathBuf, String> {
    let mut args: Vec<String> = ["build"]
        .iter()
        .chain(&KERNEL_PACKAGE)
        .map(|a| a.to_string())
        .collect();
    if let Some(features) = labs.features() {
        args.extend(["--features".to_string(), features]);
    }
    ctx.run(&mut ctx.cargo(Env::Target, args)).map_err(|_| {
        format!(
            "building {} failed (cargo's errors are above)",
            labs.describe()
        )
    })?;
    Ok(ctx.target_profile_dir("kernel").join("kernel"))
}

/// Builds every user program; returns (name, ELF) sorted by name.
fn build_user_programs(ctx: &Ctx) -> Result<Vec<(String, PathBuf)>, String> {
    let names = user_programs(&ctx.root.join("user/src/bin"))?;
    let mut cmd = ctx.cargo(Env::Target, ["build"].iter().chain(&USER_PACKAGE));
    ctx.run(&mut cmd)
        .map_err(|_| "building the user programs failed (cargo's errors are above)".to_string())?;
    let dir = ctx.target_profile_dir("user");
    names
        .into_iter()
        .map(|name| {
            let elf = dir.join(&name);
            if elf.is_file() {
                Ok((name, elf))
            } else {
                Err(format!(
                    "cargo did not produce the user program {}",
                    elf.display()
                ))
            }
        })
        .collect()
}

/// The binaries cargo finds in `bin_dir`: `name.rs` files and `name/`
/// directories with a `main.rs`, sorted.
pub fn user_programs(bin_dir: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(bin_dir)
        .map_err(|e| format!("cannot list {}: {e}", bin_dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list {}: {e}", bin_dir.display()))?
            .path();
        let name = if path.is_dir() && path.join("main.rs").is_file() {
            path.file_name()
        } else if path.extension().is_some_and(|e| e == "rs") {
            path.file_stem()
        } else {
            None
        };
        if let Some(name) = name {
            names.push(name.to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Compiles the C ABI test program with the Debian cross gcc, as xv6
/// compiles its programs. `None` when there is no such compiler.
fn build_abitest(ctx: &Ctx) -> Result<Option<PathBuf>, String> {
    let Some(gcc) = setup::cross_gcc(ctx) else {
        return Ok(None);
    };
    let dir = ctx.xv6_dir().join("abitest");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let usys = dir.join("usys.S");
    fsutil::write_if_changed(&usys, usys::generate().as_bytes())?;

    let src = ctx.root.join("user/c");
    let (crt, main, script) = (
        src.join("crt.S"),
        src.join("abitest.c"),
        src.join("abitest.ld"),
    );
    let out = dir.join("abitest");
    let xtask =
        std::env::current_exe().map_err(|e| format!("cannot find the xtask executable: {e}"))?;
    if !stale(&out, &[&crt, &main, &script, &usys, &xtask]) {
        return Ok(Some(out));
    }
    let file = AtomicFile::new(&out)?;
    let mut cmd = Command::new(gcc);
    cmd.current_dir(&ctx.root)
        .args(gcc_flags())
        .arg("-T")
        .arg(&script)
        .arg("-o")
        .arg(file.temp_path())
        .args([&crt, &main, &usys]);
    ctx.run(&mut cmd)
        .map_err(|_| "building abitest failed (gcc's errors are above)".to_string())?;
    file.commit()?;
    Ok(Some(out))
}

/// xv6's flags for user programs: freestanding RV64GC, medany, static, no
/// libc, no PIE. Two more keep gcc from calling libc behind our back: no
/// stack protector, and no loops turned into memset/memcpy calls.
fn gcc_flags() -> &'static [&'static str] {
    &[
        "-Wall",
        "-Werror",
        "-O2",
        "-march=rv64gc",
        "-mabi=lp64d",
        "-mcmodel=medany",
        "-static",
        "-nostdlib",
        "-ffreestanding",
        "-fno-common",
        "-fno-pie",
        "-no-pie",
        "-fno-stack-protector",
        "-fno-tree-loop-distribute-patterns",
        "-Wl,--build-id=none",
    ]
}

/// Whether fs.img must be written again: an input is newer, or the list of
/// files differs from the one it was made with (adding or removing a
/// program changes no other mtime). The list is kept beside the image, not
/// read from it: files made inside xv6 live in the image and must survive.
fn image_stale(img: &Path, files: &[(String, PathBuf)], xtask: &Path) -> bool {
    let mut inputs: Vec<&Path> = files.iter().map(|(_, p)| p.as_path()).collect();
    inputs.push(xtask);
    stale(img, &inputs)
        || std::fs::read_to_string(file_list_path(img)).ok() != Some(file_list(files))
}

fn file_list_path(img: &Path) -> PathBuf {
    img.with_extension("img.files")
}

fn file_list(files: &[(String, PathBuf)]) -> String {
    files.iter().map(|(name, _)| format!("{name}\n")).collect()
}

/// The image size and inode layout for `labs`: the largest size any of
/// them asks for (registry `image`), and the one non-xv6 layout they agree
/// on.
pub fn image_params(labs: &LabSet) -> Result<(u32, Layout), String> {
    let mut blocks = FSSIZE;
    let mut layout = Layout::Xv6;
    for name in labs.names() {
        let Some(p) = crate::labs::lab(name).and_then(|l| l.image.as_ref()) else {
            continue;
        };
        let l = Layout::from_name(&p.layout).ok_or_else(|| {
            format!(
                "labs/registry.toml: lab {name}'s image layout `{}` is neither `xv6` nor `doubly`",
                p.layout
            )
        })?;
        if l != Layout::Xv6 && layout != Layout::Xv6 && l != layout {
            return Err(format!(
                "labs/registry.toml: lab {name}'s image layout clashes with another lab's"
            ));
        }
        if l != Layout::Xv6 {
            layout = l;
        }
        blocks = blocks.max(p.blocks);
    }
    Ok((blocks, layout))
}

fn make_image(
    ctx: &Ctx,
    img: &Path,
    (blocks, layout): (u32, Layout),
    files: &[(String, PathBuf)],
) -> Result<(), String> {
    let mut contents = Vec::with_capacity(files.len());
    for (name, path) in files {
        let data =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        contents.push((name.clone(), data));
    }
    let bytes = mkfs::make_image_with(blocks, layout, &contents)
        .map_err(|e| format!("cannot make {}: {e}", ctx.show(img)))?;
    let image = mkfs::Image::open(&bytes).map_err(|e| e.to_string())?;
    let sb = image.superblock();
    let used = (sb.data_start()..sb.size)
        .filter(|&b| image.block_in_use(b).unwrap_or(false))
        .count();
    eprintln!(
        "mkfs {}: {} files, {used} of {} data blocks used",
        ctx.show(img),
        files.len(),
        sb.nblocks
    );
    AtomicFile::new(img)?.write(&bytes)?;
    AtomicFile::new(&file_list_path(img))?.write(file_list(files).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_file_and_directory_programs() {
        let dir = std::env::temp_dir().join(format!("xtask-bins-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("usertests")).unwrap();
        std::fs::create_dir_all(dir.join("notes")).unwrap();
        for f in [
            "usertests/main.rs",
            "usertests/fs.rs",
            "sh.rs",
            "cat.rs",
            "README.md",
        ] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        assert_eq!(user_programs(&dir).unwrap(), ["cat", "sh", "usertests"]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(user_programs(&dir).is_err());
    }

    #[test]
    fn image_is_stale_when_the_file_set_changes() {
        let dir = std::env::temp_dir().join(format!("xtask-img-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b, img, xtask) = (
            dir.join("a"),
            dir.join("b"),
            dir.join("fs.img"),
            dir.join("x"),
        );
        for f in [&a, &b, &xtask] {
            std::fs::write(f, "data").unwrap();
        }
        let ctx = Ctx::for_tests(&dir);
        let one = vec![("a".to_string(), a.clone())];
        assert!(image_stale(&img, &one, &xtask), "no image yet");
        make_image(&ctx, &img, (FSSIZE, Layout::Xv6), &one).unwrap();
        assert!(!image_stale(&img, &one, &xtask));
        let two = vec![("a".to_string(), a), ("b".to_string(), b)];
        assert!(image_stale(&img, &two, &xtask), "a file was added");
        make_image(&ctx, &img, (FSSIZE, Layout::Xv6), &two).unwrap();
        assert!(!image_stale(&img, &two, &xtask));
        assert!(image_stale(&img, &two[1..], &xtask), "a file was removed");
        let bytes = std::fs::read(&img).unwrap();
        let image = mkfs::Image::open(&bytes).unwrap();
        assert_eq!(image.root_names().unwrap(), ["a", "b"]);
        assert_eq!(image.read_file("b").unwrap(), b"data");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
