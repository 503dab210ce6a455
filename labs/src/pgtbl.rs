//! Lab pgtbl: not written yet.

use kernel_base::hooks::Lab;

pub struct Pgtbl;

impl Lab for Pgtbl {
    fn name(&self) -> &'static str {
        "pgtbl"
    }
}
