// Links every user program at virtual address 0 with our linker script,
// without the assembler's local labels (`.L…`), and stripped for the disk.
// `cargo xtask asm` sets XV6_USER_SYMBOLS to link the same code with its
// symbols and debug information (in a target directory of its own): only
// the link differs, so every address is the disk's.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rustc-link-arg-bins=-T{dir}/user.ld");
    println!("cargo:rustc-link-arg-bins=--discard-locals");
    if std::env::var_os("XV6_USER_SYMBOLS").is_none() {
        println!("cargo:rustc-link-arg-bins=--strip-all");
    }
    println!("cargo:rerun-if-changed=user.ld");
    println!("cargo:rerun-if-env-changed=XV6_USER_SYMBOLS");
}
