//! The kernel listings students read beside the ELF: `kernel.sym` (every
//! symbol's address and demangled name) and `kernel.asm` (the disassembly
//! with source lines).

use std::fmt::Write;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};

use object::{Object, ObjectSymbol, SymbolKind};

use crate::fsutil::AtomicFile;
use crate::run::Ctx;
use crate::setup::Disassembler;

/// One line per defined symbol, `<16 hex digits> <name>`, sorted by address
/// then name, names demangled without their hash.
pub fn symbol_table(elf: &[u8]) -> Result<String, String> {
    let file = object::File::parse(elf).map_err(|e| format!("cannot parse the kernel ELF: {e}"))?;
    let mut symbols: Vec<(u64, String)> = file
        .symbols()
        .filter(|s| {
            s.is_definition() && !matches!(s.kind(), SymbolKind::File | SymbolKind::Section)
        })
        .filter_map(|s| {
            let name = s.name().ok()?;
            // `$x`/`$d` mark code and data for disassemblers; `.L` labels
            // are assembler-local. Neither names anything a student looks up.
            if name.is_empty() || name.starts_with('$') || name.starts_with(".L") {
                return None;
            }
            Some((s.address(), format!("{:#}", rustc_demangle::demangle(name))))
        })
        .collect();
    symbols.sort();
    symbols.dedup();
    let mut out = String::new();
    for (addr, name) in symbols {
        let _ = writeln!(out, "{addr:016x} {name}");
    }
    Ok(out)
}

/// Writes `kernel.sym` for the ELF at `kernel`.
pub fn write_symbols(kernel: &Path, out: &Path) -> Result<(), String> {
    let elf =
        std::fs::read(kernel).map_err(|e| format!("cannot read {}: {e}", kernel.display()))?;
    let table = symbol_table(&elf)?;
    AtomicFile::new(out)?.write(table.as_bytes())
}

/// Writes `kernel.asm` with `dis`; says whether it did. A listing is a
/// help, not a product: when objdump fails, one line says so and the build
/// goes on.
pub fn write_disassembly(ctx: &Ctx, dis: &Disassembler, kernel: &Path, out: &Path) -> bool {
    match disassemble(ctx, dis, kernel, out) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("note: {} not written: {e}", ctx.show(out));
            false
        }
    }
}

/// Writes the disassembly of the ELF `elf` to `out`.
pub fn disassemble(ctx: &Ctx, dis: &Disassembler, elf: &Path, out: &Path) -> Result<(), String> {
    let file = AtomicFile::new(out)?;
    let stdout = File::create(file.temp_path()).map_err(|e| format!("cannot create it: {e}"))?;
    let mut cmd = Command::new(&dis.path);
    cmd.args(dis.args()).arg(elf);
    eprintln!("$ {} > {}", ctx.display(&cmd), ctx.show(out));
    // Missing sources (the standard library's, say) only cost their lines
    // in the listing, though objdump warns about each: stderr is shown
    // only when it fails.
    let o = cmd
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", dis.path.display()))?;
    if o.status.success() {
        return file.commit();
    }
    let stderr = String::from_utf8_lossy(&o.stderr);
    let first = stderr
        .lines()
        .find(|l| !l.contains("warning"))
        .unwrap_or("no message");
    Err(format!("objdump failed ({}): {first}", o.status))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A function of this test binary whose symbol must show up demangled.
    #[inline(never)]
    fn marker_for_symbol_table() -> u64 {
        std::hint::black_box(42)
    }

    #[test]
    fn lists_this_binary_sorted_and_demangled() {
        // Referenced so that the linker keeps it.
        std::hint::black_box(marker_for_symbol_table as fn() -> u64);
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let table = symbol_table(&exe).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines.len() > 100);
        let mut prev = (0u64, "");
        for line in &lines {
            let (addr, name) = line.split_once(' ').unwrap();
            assert_eq!(addr.len(), 16, "{line}");
            let addr = u64::from_str_radix(addr, 16).unwrap();
            assert!((addr, name) >= prev, "not sorted at {line}");
            assert!(!name.is_empty() && !name.starts_with('$'), "{line}");
            prev = (addr, name);
        }
        let marker = lines
            .iter()
            .find(|l| l.ends_with(" xtask::listing::tests::marker_for_symbol_table"))
            .expect("the marker function, demangled without its hash");
        assert!(!marker.contains("::h"), "{marker}");
    }

    #[test]
    fn rejects_non_elf() {
        assert!(symbol_table(b"not an elf at all").is_err());
    }
}
