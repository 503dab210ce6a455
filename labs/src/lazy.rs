//! Lab lazy: not written yet.

use kernel_base::hooks::Lab;

pub struct Lazy;

impl Lab for Lazy {
    fn name(&self) -> &'static str {
        "lazy"
    }
}
