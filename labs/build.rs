// Links the kernel binary with its linker script (KERNBASE, _entry first,
// the trampoline on a page of its own), and writes the kernel's list of
// labs from the registry (labs/registry.toml), so that a new lab needs no
// edit in main.rs.
use std::fmt::Write;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rustc-link-arg-bins=-T{dir}/kernel.ld");
    // Drop the assembler's local labels (.L0 and the like, thousands of
    // them), so that symbolizers name functions, not labels.
    println!("cargo:rustc-link-arg-bins=--discard-locals");
    println!("cargo:rerun-if-changed=kernel.ld");
    println!("cargo:rerun-if-changed=registry.toml");
    // The modules below are written with this tree's absolute paths, and
    // cargo keeps a build script's output when a tree is copied with its
    // target directory: xtask names the tree, so that a new place runs this
    // again (main.rs refuses output written for another tree).
    println!("cargo:rerun-if-env-changed=XV6_TREE");

    let text = std::fs::read_to_string(format!("{dir}/registry.toml"))
        .unwrap_or_else(|e| fail(&format!("cannot read labs/registry.toml: {e}")));
    let registry: toml::Table = text
        .parse()
        .unwrap_or_else(|e| fail(&format!("labs/registry.toml: {e}")));
    let labs = registry.get("lab").and_then(|l| l.as_array());
    // (feature, module, type) of each kernel lab, in the registry's order.
    let mut kernel_labs = Vec::new();
    for lab in labs.into_iter().flatten() {
        let name = lab.get("name").and_then(|n| n.as_str());
        let ty = lab.get("kernel").and_then(|k| k.as_str());
        if let (Some(name), Some(ty)) = (name, ty) {
            kernel_labs.push((name.to_owned(), ty.to_owned()));
        }
    }
    // An enabled feature that is no lab of the registry would build a
    // kernel without the lab the user asked for.
    let features = std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(str::to_lowercase));
    for f in features {
        if !kernel_labs.iter().any(|(n, _)| n.replace('-', "_") == f) {
            fail(&format!(
                "feature `{f}` is no kernel lab of labs/registry.toml: add its entry there"
            ));
        }
    }

    let mut code = String::from("// Written by labs/build.rs from labs/registry.toml.\n");
    writeln!(code, "const LABS_WRITTEN_FOR: &str = {dir:?};").unwrap();
    for (name, _) in &kernel_labs {
        writeln!(
            code,
            "#[cfg(feature = {name:?})]\n#[path = {:?}]\nmod {name};",
            format!("{dir}/src/{name}.rs")
        )
        .unwrap();
    }
    code.push_str("\n/// The enabled labs, in the registry's order.\nstatic LABS: &[&dyn kernel_base::hooks::Lab] = &[\n");
    for (name, ty) in &kernel_labs {
        writeln!(code, "    #[cfg(feature = {name:?})]\n    &{name}::{ty},").unwrap();
    }
    code.push_str("];\n");
    let out = std::env::var("OUT_DIR").unwrap();
    std::fs::write(format!("{out}/labs.rs"), code).unwrap();
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
