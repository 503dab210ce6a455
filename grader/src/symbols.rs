//! Kernel addresses to function names, from the kernel ELF's DWARF (which
//! knows inlined functions) or, without it, its symbol table.

use std::cell::OnceCell;
use std::path::PathBuf;

/// Names the functions at an address.
pub trait Symbolize {
    /// The short names (last path component, no hash) of the functions at
    /// `address`, innermost inlined one first; empty when none covers it.
    fn functions(&self, address: u64) -> Result<Vec<String>, String>;
}

/// The symbols of one kernel ELF, read on first use: most runs never
/// print a backtrace.
pub struct KernelSymbols {
    path: PathBuf,
    loader: OnceCell<Result<addr2line::Loader, String>>,
}

impl KernelSymbols {
    pub fn new(path: PathBuf) -> Self {
        KernelSymbols {
            path,
            loader: OnceCell::new(),
        }
    }

    fn loader(&self) -> Result<&addr2line::Loader, String> {
        self.loader
            .get_or_init(|| {
                addr2line::Loader::new(&self.path)
                    .map_err(|e| format!("cannot read symbols from {}: {e}", self.path.display()))
            })
            .as_ref()
            .map_err(String::clone)
    }
}

impl Symbolize for KernelSymbols {
    fn functions(&self, address: u64) -> Result<Vec<String>, String> {
        let loader = self.loader()?;
        let bad_dwarf =
            |e: addr2line::gimli::Error| format!("bad debug info in {}: {e}", self.path.display());
        let mut names = Vec::new();
        let mut frames = loader.find_frames(address).map_err(|e| e.to_string())?;
        while let Some(frame) = frames.next().map_err(bad_dwarf)? {
            if let Some(function) = frame.function {
                names.push(short_name(&function.raw_name().map_err(bad_dwarf)?));
            }
        }
        if names.is_empty()
            && let Some(symbol) = loader.find_symbol(address)
        {
            names.push(short_name(symbol));
        }
        Ok(names)
    }
}

/// `_ZN11kernel_base7sysproc9sys_sleep17h0123456789abcdefE` and
/// `kernel_base::sysproc::sys_sleep` both give `sys_sleep`.
pub fn short_name(raw: &str) -> String {
    let path = match rustc_demangle::try_demangle(raw) {
        // The alternate form leaves out the hash.
        Ok(d) => format!("{d:#}"),
        Err(_) => raw.to_owned(),
    };
    path.rsplit("::").next().unwrap_or(&path).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::write::{Object, StandardSection, Symbol, SymbolSection};
    use object::{Architecture, BinaryFormat, Endianness, SymbolFlags, SymbolKind, SymbolScope};

    #[test]
    fn short_names() {
        assert_eq!(
            short_name("_ZN11kernel_base7sysproc9sys_sleep17h0123456789abcdefE"),
            "sys_sleep"
        );
        assert_eq!(short_name("kernel_base::trap::usertrap"), "usertrap");
        assert_eq!(short_name("usertrap"), "usertrap");
    }

    /// An object file whose symbol table (no DWARF) places three functions.
    fn kernel_with_symbols(dir: &std::path::Path) -> PathBuf {
        let mut obj = Object::new(BinaryFormat::Elf, Architecture::Riscv64, Endianness::Little);
        let text = obj.section_id(StandardSection::Text);
        obj.append_section_data(text, &[0x13; 0x300], 4);
        let functions = [
            ("_ZN11kernel_base4trap8usertrap17h1111111111111111E", 0x000),
            (
                "_ZN11kernel_base7syscall7syscall17h2222222222222222E",
                0x100,
            ),
            (
                "_ZN11kernel_base7sysproc9sys_sleep17h3333333333333333E",
                0x200,
            ),
        ];
        for (name, offset) in functions {
            obj.add_symbol(Symbol {
                name: name.as_bytes().to_vec(),
                value: offset,
                size: 0x100,
                kind: SymbolKind::Text,
                scope: SymbolScope::Linkage,
                weak: false,
                section: SymbolSection::Section(text),
                flags: SymbolFlags::None,
            });
        }
        let path = dir.join("kernel");
        std::fs::write(&path, obj.write().unwrap()).unwrap();
        path
    }

    #[test]
    fn reads_the_symbol_table_without_dwarf() {
        let dir = tempfile::tempdir().unwrap();
        let symbols = KernelSymbols::new(kernel_with_symbols(dir.path()));
        assert_eq!(symbols.functions(0x10).unwrap(), vec!["usertrap"]);
        assert_eq!(symbols.functions(0x1ff).unwrap(), vec!["syscall"]);
        assert_eq!(symbols.functions(0x2f0).unwrap(), vec!["sys_sleep"]);
    }

    #[test]
    fn a_missing_kernel_is_an_error_not_a_panic() {
        let symbols = KernelSymbols::new(PathBuf::from("/nonexistent/kernel"));
        let e = symbols.functions(0x8000_0000).unwrap_err();
        assert!(
            e.starts_with("cannot read symbols from /nonexistent/kernel"),
            "{e}"
        );
    }
}
