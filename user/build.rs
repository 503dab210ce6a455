// Links every user program at virtual address 0 with our linker script,
// without the assembler's local labels (`.L…`), so that the disassembly of
// a program built with its symbols (`cargo xtask asm`) shows only functions.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rustc-link-arg-bins=-T{dir}/user.ld");
    println!("cargo:rustc-link-arg-bins=--discard-locals");
    println!("cargo:rerun-if-changed=user.ld");
}
