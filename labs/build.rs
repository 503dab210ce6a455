// Links the kernel binary with its linker script (KERNBASE, _entry first,
// the trampoline on a page of its own).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rustc-link-arg-bins=-T{dir}/kernel.ld");
    // Drop the assembler's local labels (.L0 and the like, thousands of
    // them), so that symbolizers name functions, not labels.
    println!("cargo:rustc-link-arg-bins=--discard-locals");
    println!("cargo:rerun-if-changed=kernel.ld");
}
