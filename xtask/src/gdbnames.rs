//! xv6's function names as gdb breakpoints (`b sys_sleep`, `b uvmcopy`).
//!
//! The kernel's Rust names are paths (`kernel_base::vm::UserMemory::copy_to`)
//! and gdb matches Rust functions only by their whole path. The xv6 names
//! come from the source, the one list there is: each function's
//! `#[doc(alias = "...")]`, the short name of every free function in the
//! kernel's modules (named after xv6's files: `fork`, `usertrap`,
//! `sys_sleep`, a lab's `sys_sigreturn`) and the name and aliases of every
//! hook method (`user_fault`, `fork_memory`), which stand for each lab's
//! implementation of it. The kernel's DWARF says where each of those
//! functions is, out of line or inlined into a caller.
//!
//! gdb reads the names from a small ELF beside the kernel (`xv6-names.o`,
//! loaded with `add-symbol-file`): a function compiled out of line gets a
//! DWARF function of the xv6 name over the same addresses, so gdb treats
//! `b usertrap` as it treats `b kernel_base::trap::usertrap` (it stops at
//! the end of the prologue and reports usertrap, not an inlined callee); a
//! copy inlined into a caller gets a plain symbol at its first line of its
//! own (past what is inlined into it in turn), so gdb stops there and
//! reports the inlined function.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use gimli::{AttributeValue, EndianSlice, RunTimeEndian};
use object::{Object, ObjectSection};
use proc_macro2::{Delimiter, TokenStream, TokenTree};

use crate::fsutil::AtomicFile;

/// The crates whose source names kernel functions: directory and crate
/// name as the kernel's symbols spell it (the lab crate's binary is
/// `kernel`).
const CRATES: [(&str, &str); 2] = [("kernel-base/src", "kernel_base"), ("labs/src", "kernel")];

/// The names' ELF, beside the kernel in each configuration's directory
/// (where the grader's gdb looks for it too).
pub const FILE: &str = grader::gdb::NAMES_FILE;

/// The file of the hook traits: its free functions are the base kernel's
/// side of the hooks (`hooks::fork`), not xv6's functions, while its trait
/// methods are the hooks themselves.
const HOOKS_FILE: &str = "kernel-base/src/hooks.rs";

/// One xv6 name for one Rust function, as the source declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// What a student types after `b`.
    pub xv6: String,
    /// The Rust function's own name.
    pub function: String,
    /// Its file, relative to the repository root.
    pub file: String,
    /// The line of its name.
    pub line: usize,
    /// For a trait method, the trait's path: every implementation of the
    /// method answers to the name too.
    pub of_trait: Option<String>,
}

/// Where one function named by a [`Name`] is in the kernel.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instance {
    pub xv6: String,
    pub address: u64,
    pub size: u64,
    /// A copy inlined into a caller (otherwise the function out of line).
    pub inlined: bool,
}

/// The names the kernel's source declares, in file order.
pub fn source_names(root: &Path) -> Result<Vec<Name>, String> {
    let mut names = Vec::new();
    for (dir, krate) in CRATES {
        let mut files = Vec::new();
        rust_files(&root.join(dir), &mut files)?;
        files.sort();
        for file in files {
            let rel = file
                .strip_prefix(root)
                .unwrap_or(&file)
                .to_string_lossy()
                .replace('\\', "/");
            let in_src = rel
                .strip_prefix(dir)
                .unwrap_or(&rel)
                .trim_start_matches('/');
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            names.extend(scan_file(&rel, &module_path(krate, in_src), &text)?);
        }
    }
    // A hook's own name yields to xv6's function of that name: `b fork` is
    // proc's fork, not the labs' fork hooks as well.
    let free: BTreeSet<String> = names
        .iter()
        .filter(|n| n.of_trait.is_none())
        .map(|n| n.xv6.clone())
        .collect();
    names.retain(|n| n.of_trait.is_none() || n.xv6 != n.function || !free.contains(&n.xv6));
    Ok(names)
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// `kernel_base` + `vm/pgtbl.rs` is `kernel_base::vm::pgtbl`.
fn module_path(krate: &str, in_src: &str) -> String {
    let stem = in_src.strip_suffix(".rs").unwrap_or(in_src);
    let mut path = krate.to_string();
    for part in stem.split('/') {
        if !matches!(part, "lib" | "main" | "mod") {
            path.push_str("::");
            path.push_str(part);
        }
    }
    path
}

/// What kind of block the scanner is in.
#[derive(Clone)]
enum Scope {
    /// A module: free functions.
    Module,
    /// An `impl` block: methods, named only by their aliases.
    Impl,
    /// A trait (its path): hook methods.
    Trait(String),
}

/// The item the scanner is in the middle of, at one level.
enum Item {
    None,
    Fn,
    Impl,
    Trait(String),
    Mod,
    /// Something with no functions of its own, ending at its braces (a
    /// struct) or, when not, at `;` (a static, `use`).
    Other {
        braced: bool,
    },
}

/// The names one source file declares.
pub fn scan_file(rel: &str, module: &str, text: &str) -> Result<Vec<Name>, String> {
    let tokens: TokenStream = text
        .parse()
        .map_err(|e| format!("cannot read {rel} as Rust: {e:?}"))?;
    let mut out = Vec::new();
    scan(tokens, &Scope::Module, rel, module, &mut out);
    Ok(out)
}

fn scan(tokens: TokenStream, scope: &Scope, rel: &str, module: &str, out: &mut Vec<Name>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut aliases: Vec<String> = Vec::new();
    let mut cfg_test = false;
    let mut item = Item::None;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            TokenTree::Punct(p) if p.as_char() == '#' => {
                if let Some(TokenTree::Group(g)) = tokens.get(i + 1)
                    && g.delimiter() == Delimiter::Bracket
                {
                    aliases.extend(doc_aliases(g.stream()));
                    cfg_test |= is_cfg_test(g.stream());
                    i += 2;
                    continue;
                }
            }
            TokenTree::Punct(p) if p.as_char() == ';' => {
                aliases.clear();
                cfg_test = false;
                item = Item::None;
            }
            TokenTree::Ident(id) => {
                let word = id.to_string();
                match (&item, word.as_str()) {
                    (Item::None, "fn") => {
                        if let Some(TokenTree::Ident(name)) = tokens.get(i + 1)
                            && !cfg_test
                        {
                            let line = name.span().start().line;
                            emit(&name.to_string(), line, &aliases, scope, rel, out);
                        }
                        item = Item::Fn;
                    }
                    (Item::None, "impl") => item = Item::Impl,
                    (Item::None, "trait") => {
                        if let Some(TokenTree::Ident(name)) = tokens.get(i + 1) {
                            item = Item::Trait(format!("{module}::{name}"));
                        }
                    }
                    (Item::None, "mod") => item = Item::Mod,
                    // `const fn` is a function; `const X: fn() = ..` is not.
                    (Item::None, "const") if !followed_by_fn(&tokens[i + 1..]) => {
                        item = Item::Other { braced: false }
                    }
                    (Item::None, "static" | "use" | "type") => item = Item::Other { braced: false },
                    (Item::None, "struct" | "enum" | "union" | "macro_rules") => {
                        item = Item::Other { braced: true }
                    }
                    _ => {}
                }
            }
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => {
                if !cfg_test {
                    match &item {
                        Item::Impl => scan(g.stream(), &Scope::Impl, rel, module, out),
                        Item::Trait(t) => {
                            scan(g.stream(), &Scope::Trait(t.clone()), rel, module, out)
                        }
                        Item::Mod => scan(g.stream(), scope, rel, module, out),
                        _ => {}
                    }
                }
                if !matches!(item, Item::Other { braced: false } | Item::None) {
                    aliases.clear();
                    cfg_test = false;
                    item = Item::None;
                }
            }
            _ => {}
        }
        i += 1;
    }
}

fn followed_by_fn(rest: &[TokenTree]) -> bool {
    for t in rest {
        match t {
            TokenTree::Ident(id) if id == "fn" => return true,
            TokenTree::Ident(id) if id == "unsafe" || id == "extern" => {}
            TokenTree::Literal(_) => {}
            _ => return false,
        }
    }
    false
}

fn emit(
    function: &str,
    line: usize,
    aliases: &[String],
    scope: &Scope,
    rel: &str,
    out: &mut Vec<Name>,
) {
    let mut xv6: Vec<&str> = aliases.iter().map(String::as_str).collect();
    let of_trait = match scope {
        Scope::Module if xv6.is_empty() && rel != HOOKS_FILE => {
            xv6.push(function);
            None
        }
        Scope::Module | Scope::Impl => None,
        Scope::Trait(t) => {
            if rel == HOOKS_FILE {
                xv6.push(function);
            }
            Some(t.clone())
        }
    };
    let mut seen = BTreeSet::new();
    for name in xv6 {
        if seen.insert(name) {
            out.push(Name {
                xv6: name.to_string(),
                function: function.to_string(),
                file: rel.to_string(),
                line,
                of_trait: of_trait.clone(),
            });
        }
    }
}

/// The names in `doc(alias = "a")` or `doc(alias("a", "b"))`.
fn doc_aliases(attr: TokenStream) -> Vec<String> {
    let t: Vec<TokenTree> = attr.into_iter().collect();
    let [TokenTree::Ident(doc), TokenTree::Group(args)] = t.as_slice() else {
        return Vec::new();
    };
    if doc != "doc" {
        return Vec::new();
    }
    let a: Vec<TokenTree> = args.stream().into_iter().collect();
    let strings = match a.as_slice() {
        [
            TokenTree::Ident(k),
            TokenTree::Punct(eq),
            TokenTree::Literal(l),
        ] if k == "alias" && eq.as_char() == '=' => {
            vec![l.to_string()]
        }
        [TokenTree::Ident(k), TokenTree::Group(list)] if k == "alias" => list
            .stream()
            .into_iter()
            .filter_map(|t| match t {
                TokenTree::Literal(l) => Some(l.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    strings
        .iter()
        .filter_map(|s| s.strip_prefix('"')?.strip_suffix('"').map(str::to_string))
        // Only names gdb can take as a function name (not `PTE2PA`'s macro
        // case, which is still an identifier, so it stays).
        .filter(|s| !s.is_empty() && s.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()))
        .collect()
}

fn is_cfg_test(attr: TokenStream) -> bool {
    let t: Vec<TokenTree> = attr.into_iter().collect();
    matches!(t.as_slice(), [TokenTree::Ident(cfg), TokenTree::Group(g)]
        if cfg == "cfg" && g.stream().to_string() == "test")
}

/// What the DWARF says of one function: its name, symbol, declaration.
#[derive(Default, Clone)]
struct Decl {
    name: Option<String>,
    linkage: Option<String>,
    file: Option<String>,
    line: Option<u64>,
}

type Reader<'a> = EndianSlice<'a, RunTimeEndian>;

/// Finds each named function in the kernel ELF `elf`.
pub fn instances(elf: &[u8], names: &[Name]) -> Result<Vec<Instance>, String> {
    let file = object::File::parse(elf).map_err(|e| format!("cannot parse the kernel ELF: {e}"))?;
    let endian = if file.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let dwarf = gimli::Dwarf::load(|id| -> Result<Reader<'_>, String> {
        let data = file
            .section_by_name(id.name())
            .map(|s| {
                s.data()
                    .map_err(|e| format!("cannot read {}: {e}", id.name()))
            })
            .transpose()?
            .unwrap_or(&[]);
        Ok(EndianSlice::new(data, endian))
    })?;
    let by_decl: BTreeMap<(&str, usize), Vec<&Name>> =
        names.iter().fold(BTreeMap::new(), |mut m, n| {
            m.entry((n.function.as_str(), n.line)).or_default().push(n);
            m
        });
    let by_trait: Vec<(String, &Name)> = names
        .iter()
        .filter_map(|n| {
            let t = n.of_trait.as_ref()?;
            Some((format!(" as {t}>::{}", n.function), n))
        })
        .collect();
    let bad = |e: gimli::Error| format!("cannot read the kernel's DWARF: {e}");
    let mut found = BTreeSet::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next().map_err(bad)? {
        let unit = dwarf.unit(header).map_err(bad)?;
        let rows = line_starts(&unit).map_err(bad)?;
        let mut cursor = unit.entries();
        while let Some(entry) = cursor.next_dfs().map_err(bad)? {
            let inlined = match entry.tag() {
                gimli::DW_TAG_subprogram => false,
                gimli::DW_TAG_inlined_subroutine => true,
                _ => continue,
            };
            let Some((mut address, mut size)) =
                code_range(&dwarf, &unit, entry, inlined).map_err(bad)?
            else {
                continue;
            };
            if inlined {
                (address, size) = own_start(&dwarf, &unit, &rows, entry.offset(), (address, size))
                    .map_err(bad)?;
            }
            let decl = describe(&dwarf, &unit, entry, 0).map_err(bad)?;
            // A generic function's instances are `sleep<T>`: its name is `sleep`.
            let Some(function) = decl.name.as_deref().and_then(|n| n.split('<').next()) else {
                continue;
            };
            let mut matched: Vec<&Name> = Vec::new();
            if let (Some(file), Some(line)) = (&decl.file, decl.line) {
                for n in by_decl
                    .get(&(function, line as usize))
                    .into_iter()
                    .flatten()
                {
                    if same_file(file, &n.file) {
                        matched.push(n);
                    }
                }
            }
            if let Some(linkage) = &decl.linkage {
                let path = format!("{:#}", rustc_demangle::demangle(linkage));
                for (suffix, n) in &by_trait {
                    if path.ends_with(suffix.as_str()) {
                        matched.push(n);
                    }
                }
            }
            for n in matched {
                found.insert(Instance {
                    xv6: n.xv6.clone(),
                    address,
                    size,
                    inlined,
                });
            }
        }
    }
    Ok(found.into_iter().collect())
}

/// A DWARF file name (absolute, or relative to the workspace where cargo
/// compiled) names the repository file `rel`.
fn same_file(dwarf_path: &str, rel: &str) -> bool {
    dwarf_path == rel || dwarf_path.ends_with(&format!("/{rel}"))
}

/// Where the code of a function or inlined copy starts, and how long its
/// first piece is.
fn code_range<'a>(
    dwarf: &gimli::Dwarf<Reader<'a>>,
    unit: &gimli::Unit<Reader<'a>>,
    entry: &gimli::DebuggingInformationEntry<Reader<'a>>,
    inlined: bool,
) -> gimli::Result<Option<(u64, u64)>> {
    let mut ranges = dwarf.die_ranges(unit, entry)?;
    let mut first: Option<gimli::Range> = None;
    while let Some(r) = ranges.next()? {
        if r.begin < r.end && first.is_none_or(|f| r.begin < f.begin) {
            first = Some(r);
        }
    }
    let Some(first) = first else {
        return Ok(None);
    };
    // An inlined copy may start in the middle of its ranges.
    if inlined
        && let Some(v) = entry.attr_value(gimli::DW_AT_entry_pc)
        && let Some(pc) = dwarf.attr_address(unit, v)?
    {
        return Ok(Some((pc, first.end.saturating_sub(pc).max(1))));
    }
    Ok(Some((first.begin, first.end - first.begin)))
}

/// The first instruction of an inlined copy that is its own, not a
/// function inlined into it in turn: gdb reports a stop there as the copy's
/// function (at the copy's start it reports the innermost one, as
/// `proc::current` for `fork`). The copy's start when it has none.
fn own_start<'a>(
    dwarf: &gimli::Dwarf<Reader<'a>>,
    unit: &gimli::Unit<Reader<'a>>,
    rows: &[u64],
    offset: gimli::UnitOffset,
    (start, size): (u64, u64),
) -> gimli::Result<(u64, u64)> {
    let mut nested = Vec::new();
    let mut tree = unit.entries_tree(Some(offset))?;
    inlined_into(dwarf, unit, tree.root()?, &mut nested)?;
    let end = start + size;
    let mut at = start;
    loop {
        // gdb keeps a line's file and number only for a stop at the line's
        // first instruction.
        let i = rows.partition_point(|&a| a < at);
        match rows.get(i) {
            Some(&row) if row < end => at = row,
            _ => return Ok((start, size)),
        }
        match nested.iter().find(|r| r.begin <= at && at < r.end) {
            Some(r) => at = r.end,
            None => return Ok((at, end - at)),
        }
    }
}

/// The code of the functions inlined into `node`, in it or in its blocks.
fn inlined_into<'a>(
    dwarf: &gimli::Dwarf<Reader<'a>>,
    unit: &gimli::Unit<Reader<'a>>,
    node: gimli::EntriesTreeNode<'_, '_, Reader<'a>>,
    out: &mut Vec<gimli::Range>,
) -> gimli::Result<()> {
    let mut children = node.children();
    while let Some(child) = children.next()? {
        match child.entry().tag() {
            gimli::DW_TAG_inlined_subroutine => {
                let mut r = dwarf.die_ranges(unit, child.entry())?;
                while let Some(r) = r.next()? {
                    out.push(r);
                }
            }
            gimli::DW_TAG_lexical_block => inlined_into(dwarf, unit, child, out)?,
            _ => {}
        }
    }
    Ok(())
}

/// The addresses where the unit's lines (statements) start, sorted.
fn line_starts(unit: &gimli::Unit<Reader<'_>>) -> gimli::Result<Vec<u64>> {
    let mut starts = Vec::new();
    if let Some(program) = unit.line_program.clone() {
        let mut rows = program.rows();
        while let Some((_, row)) = rows.next_row()? {
            if row.is_stmt() && !row.end_sequence() {
                starts.push(row.address());
            }
        }
    }
    starts.sort_unstable();
    starts.dedup();
    Ok(starts)
}

/// The name and declaration of `entry`, following the abstract origin and
/// the specification it points to.
fn describe<'a>(
    dwarf: &gimli::Dwarf<Reader<'a>>,
    unit: &gimli::Unit<Reader<'a>>,
    entry: &gimli::DebuggingInformationEntry<Reader<'a>>,
    depth: u32,
) -> gimli::Result<Decl> {
    let mut d = Decl::default();
    if let Some(v) = entry.attr_value(gimli::DW_AT_name) {
        d.name = Some(dwarf.attr_string(unit, v)?.to_string_lossy().into_owned());
    }
    if let Some(v) = entry.attr_value(gimli::DW_AT_linkage_name) {
        d.linkage = Some(dwarf.attr_string(unit, v)?.to_string_lossy().into_owned());
    }
    if let Some(AttributeValue::Udata(l)) = entry.attr_value(gimli::DW_AT_decl_line) {
        d.line = Some(l);
    }
    if let Some(AttributeValue::FileIndex(i) | AttributeValue::Udata(i)) =
        entry.attr_value(gimli::DW_AT_decl_file)
    {
        d.file = file_name(dwarf, unit, i);
    }
    for origin in [gimli::DW_AT_abstract_origin, gimli::DW_AT_specification] {
        if depth < 4
            && let Some(AttributeValue::UnitRef(off)) = entry.attr_value(origin)
        {
            let next = unit.entry(off)?;
            let o = describe(dwarf, unit, &next, depth + 1)?;
            d.name = d.name.or(o.name);
            d.linkage = d.linkage.or(o.linkage);
            if d.line.is_none() {
                d.line = o.line;
                d.file = o.file;
            }
        }
    }
    Ok(d)
}

fn file_name<'a>(
    dwarf: &gimli::Dwarf<Reader<'a>>,
    unit: &gimli::Unit<Reader<'a>>,
    index: u64,
) -> Option<String> {
    let header = unit.line_program.as_ref()?.header();
    let file = header.file(index)?;
    let name = dwarf.attr_string(unit, file.path_name()).ok()?;
    let name = name.to_string_lossy();
    let dir = file
        .directory(header)
        .and_then(|d| dwarf.attr_string(unit, d).ok())
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    if dir.is_empty() || name.starts_with('/') {
        Some(name.into_owned())
    } else {
        Some(format!("{dir}/{name}"))
    }
}

/// The kernel's `.text`: where and how long.
fn text_section(elf: &[u8]) -> Result<(u64, u64), String> {
    let file = object::File::parse(elf).map_err(|e| format!("cannot parse the kernel ELF: {e}"))?;
    let text = file
        .section_by_name(".text")
        .ok_or("the kernel ELF has no .text section")?;
    Ok((text.address(), text.size()))
}

/// The alias ELF's bytes for `instances`: its `.text` lies over the
/// kernel's (loaded at `text.0` with `add-symbol-file`), empty.
pub fn alias_elf(text: (u64, u64), instances: &[Instance]) -> Result<Vec<u8>, String> {
    use gimli::write::{Address, AttributeValue as W, DwarfUnit, EndianVec, Sections};
    use object::write::{Object as Out, Symbol, SymbolSection};
    use object::{
        Architecture, BinaryFormat, Endianness, SectionFlags, SectionKind, SymbolFlags, SymbolKind,
        SymbolScope,
    };

    let (base, len) = text;
    let inside = |i: &&Instance| i.address >= base && i.address + i.size <= base + len;
    let encoding = gimli::Encoding {
        format: gimli::Format::Dwarf32,
        version: 4,
        address_size: 8,
    };
    let mut dwarf = DwarfUnit::new(encoding);
    let root = dwarf.unit.root();
    let cu = dwarf.unit.get_mut(root);
    cu.set(gimli::DW_AT_name, W::String(b"xv6 names".to_vec()));
    cu.set(gimli::DW_AT_producer, W::String(b"cargo xtask".to_vec()));
    cu.set(gimli::DW_AT_language, W::Language(gimli::DW_LANG_C99));
    // The unit claims one byte past the kernel's code, so that gdb, asked
    // which code an address is, answers from the kernel's own DWARF (its
    // lines and inlined frames); the functions below are for names only.
    cu.set(
        gimli::DW_AT_low_pc,
        W::Address(Address::Constant(base + len)),
    );
    cu.set(gimli::DW_AT_high_pc, W::Udata(1));
    for i in instances.iter().filter(inside).filter(|i| !i.inlined) {
        let f = dwarf.unit.add(root, gimli::DW_TAG_subprogram);
        let f = dwarf.unit.get_mut(f);
        f.set(gimli::DW_AT_name, W::String(i.xv6.as_bytes().to_vec()));
        f.set(gimli::DW_AT_external, W::Flag(true));
        f.set(
            gimli::DW_AT_low_pc,
            W::Address(Address::Constant(i.address)),
        );
        f.set(gimli::DW_AT_high_pc, W::Udata(i.size));
    }
    let mut sections = Sections::new(EndianVec::new(gimli::LittleEndian));
    dwarf
        .write(&mut sections)
        .map_err(|e| format!("cannot write the names' DWARF: {e}"))?;

    let mut obj = Out::new(BinaryFormat::Elf, Architecture::Riscv64, Endianness::Little);
    let text_id = obj.add_section(
        Vec::new(),
        b".text".to_vec(),
        SectionKind::UninitializedData,
    );
    obj.section_mut(text_id).append_bss(len, 1);
    obj.section_mut(text_id).flags = SectionFlags::Elf {
        sh_type: object::elf::SHT_NOBITS,
        sh_flags: object::elf::SHF_ALLOC | object::elf::SHF_EXECINSTR,
    };
    sections.for_each(|id, data| -> Result<(), String> {
        if !data.slice().is_empty() {
            let s = obj.add_section(
                Vec::new(),
                id.name().as_bytes().to_vec(),
                SectionKind::Debug,
            );
            obj.append_section_data(s, data.slice(), 1);
        }
        Ok(())
    })?;
    for i in instances.iter().filter(inside).filter(|i| i.inlined) {
        obj.add_symbol(Symbol {
            name: i.xv6.as_bytes().to_vec(),
            value: i.address - base,
            size: i.size,
            kind: SymbolKind::Text,
            scope: SymbolScope::Dynamic,
            weak: false,
            section: SymbolSection::Section(text_id),
            flags: SymbolFlags::None,
        });
    }
    obj.write()
        .map_err(|e| format!("cannot write the names' ELF: {e}"))
}

/// Writes the names file beside `kernel` unless it is newer than the
/// kernel and xtask: only for gdb (`cargo xtask gdb`, a graded run's
/// `stop_at`), not in every build (it costs a build a quarter second of
/// reading DWARF, which batch grading would pay per submission).
pub fn ensure(root: &Path, kernel: &Path) -> Result<(), String> {
    let out = kernel.with_file_name(FILE);
    let xtask =
        std::env::current_exe().map_err(|e| format!("cannot find the xtask executable: {e}"))?;
    if crate::fsutil::stale(&out, &[kernel, &xtask]) {
        write_names(root, kernel, &out)?;
    }
    Ok(())
}

/// Writes `out`, the names of the kernel at `kernel` for gdb, from the
/// source under `root`.
pub fn write_names(root: &Path, kernel: &Path, out: &Path) -> Result<(), String> {
    let elf =
        std::fs::read(kernel).map_err(|e| format!("cannot read {}: {e}", kernel.display()))?;
    let names = source_names(root)?;
    let found = instances(&elf, &names)?;
    let bytes = alias_elf(text_section(&elf)?, &found)?;
    AtomicFile::new(out)?.write(&bytes)
}

/// The kernel's `.text` address, for `add-symbol-file`.
pub fn text_address(kernel: &Path) -> Result<u64, String> {
    let elf =
        std::fs::read(kernel).map_err(|e| format!("cannot read {}: {e}", kernel.display()))?;
    Ok(text_section(&elf)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    fn names(text: &str) -> Vec<(String, String, Option<String>)> {
        scan_file("kernel-base/src/vm.rs", "kernel_base::vm", text)
            .unwrap()
            .into_iter()
            .map(|n| (n.xv6, n.function, n.of_trait))
            .collect()
    }

    fn pair(xv6: &str, function: &str) -> (String, String, Option<String>) {
        (xv6.into(), function.into(), None)
    }

    #[test]
    fn free_functions_by_name_methods_by_alias() {
        let text = r#"
            pub fn walk() {}
            #[doc(alias = "uvmcopy")]
            pub fn copy_all() {}
            pub(crate) const unsafe fn tiny() {}
            static F: fn() = walk;
            const G: fn() = walk;
            #[doc(alias = "kvmmap")]
            struct Table { f: fn() }
            impl Table {
                pub fn helper(&self) {}
                #[doc(alias = "walkaddr")]
                #[inline]
                pub fn resolve(&self) { fn inner() {} }
            }
            mod deeper { pub extern "C" fn usertrap() {} }
            #[cfg(test)]
            mod tests { fn a_test() {} }
        "#;
        assert_eq!(
            names(text),
            [
                pair("walk", "walk"),
                pair("uvmcopy", "copy_all"),
                pair("tiny", "tiny"),
                pair("walkaddr", "resolve"),
                pair("usertrap", "usertrap"),
            ]
        );
    }

    #[test]
    fn trait_methods_stand_for_their_implementations() {
        let text = r#"
            pub trait Policy {
                #[doc(alias("kalloc", "kalloc_page"))]
                fn alloc(&self);
                fn free(&self) {}
            }
        "#;
        let t = Some("kernel_base::vm::Policy".to_string());
        assert_eq!(
            names(text),
            [
                ("kalloc".into(), "alloc".into(), t.clone()),
                ("kalloc_page".into(), "alloc".into(), t),
            ]
        );
        // The hooks' file: each hook by its own name too.
        let hooks = scan_file(
            HOOKS_FILE,
            "kernel_base::hooks",
            "trait Lab { fn user_fault(&self) {} }",
        )
        .unwrap();
        assert_eq!(hooks[0].xv6, "user_fault");
        assert_eq!(
            hooks[0].of_trait.as_deref(),
            Some("kernel_base::hooks::Lab")
        );
    }

    #[test]
    fn lines_are_those_of_the_function_names() {
        let n = scan_file("x.rs", "k", "\n#[doc(alias = \"a\")]\npub fn\nb() {}\n").unwrap();
        assert_eq!(n[0].line, 4);
        assert_eq!(n[0].file, "x.rs");
    }

    #[test]
    fn module_paths_follow_files() {
        assert_eq!(
            module_path("kernel_base", "vm/pgtbl.rs"),
            "kernel_base::vm::pgtbl"
        );
        assert_eq!(module_path("kernel_base", "lib.rs"), "kernel_base");
        assert_eq!(module_path("kernel", "cow.rs"), "kernel::cow");
    }

    /// The names MIT's students type, from the tree's own source.
    #[test]
    fn the_kernel_source_names_what_students_break_on() {
        let all = source_names(&root()).unwrap();
        let find = |xv6: &str| -> Vec<&Name> { all.iter().filter(|n| n.xv6 == xv6).collect() };
        for (xv6, function, file) in [
            ("sys_sleep", "sys_sleep", "kernel-base/src/sysproc.rs"),
            ("usertrap", "usertrap", "kernel-base/src/trap.rs"),
            ("uvmcopy", "copy_to", "kernel-base/src/vm.rs"),
            ("walkaddr", "resolve", "kernel-base/src/vm.rs"),
            ("kalloc", "alloc", "kernel-base/src/kalloc.rs"),
            ("fork", "fork", "kernel-base/src/proc.rs"),
            ("sys_sigreturn", "sys_sigreturn", "labs/src/alarm.rs"),
        ] {
            assert!(
                find(xv6)
                    .iter()
                    .any(|n| n.function == function && n.file == file),
                "{xv6} is not {file}'s {function}: {:?}",
                find(xv6)
            );
        }
        // Each hook, as each lab implements it.
        let fault = find("user_fault");
        assert!(
            fault
                .iter()
                .all(|n| n.of_trait.as_deref() == Some("kernel_base::hooks::Lab"))
        );
        assert!(!fault.is_empty());
        // proc's fork, not the hooks' fork too.
        assert!(
            find("fork").iter().all(|n| n.of_trait.is_none()),
            "{:?}",
            find("fork")
        );
        // The base kernel's side of the hooks (hooks::fork) is no xv6 name.
        assert!(
            all.iter()
                .all(|n| n.file != HOOKS_FILE || n.of_trait.is_some())
        );
    }

    /// The names found in a built kernel, when there is one: each at one
    /// address or more, out of line or inlined.
    #[test]
    fn a_built_kernel_has_each_name_somewhere() {
        let kernel = root().join("target/xv6/base/kernel");
        let Ok(elf) = std::fs::read(&kernel) else {
            eprintln!("SKIPPED: no {} (cargo xtask build)", kernel.display());
            return;
        };
        // Lines are matched: a kernel older than its source may not match.
        let built = std::fs::metadata(&kernel)
            .and_then(|m| m.modified())
            .unwrap();
        let mut files = Vec::new();
        rust_files(&root().join("kernel-base/src"), &mut files).unwrap();
        if files
            .iter()
            .any(|f| std::fs::metadata(f).and_then(|m| m.modified()).unwrap() > built)
        {
            eprintln!(
                "SKIPPED: {} is older than its source (cargo xtask build)",
                kernel.display()
            );
            return;
        }
        let found = instances(&elf, &source_names(&root()).unwrap()).unwrap();
        for xv6 in [
            "sys_sleep",
            "usertrap",
            "uvmcopy",
            "walkaddr",
            "kalloc",
            "fork",
            "copyout",
        ] {
            assert!(
                found.iter().any(|i| i.xv6 == xv6),
                "no {xv6} in {}",
                kernel.display()
            );
        }
        let at = |xv6: &str| found.iter().find(|i| i.xv6 == xv6).unwrap();
        // sys_sleep is never inlined (#[inline(never)]); fork is, into sys_fork.
        assert!(!at("sys_sleep").inlined);
        assert!(found.iter().filter(|i| i.xv6 == "fork").all(|i| i.inlined));
        let (base, len) = text_section(&elf).unwrap();
        let bytes = alias_elf((base, len), &found).unwrap();
        let file = object::File::parse(&*bytes).unwrap();
        use object::ObjectSymbol;
        let fork: Vec<u64> = file
            .symbols()
            .filter(|s| s.name() == Ok("fork"))
            .map(|s| s.address() + base)
            .collect();
        assert!(!fork.is_empty());
        assert!(
            fork.iter()
                .all(|a| found.iter().any(|i| i.xv6 == "fork" && i.address == *a))
        );
        assert!(file.section_by_name(".debug_info").is_some());
    }
}
