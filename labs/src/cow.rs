//! Lab cow: not written yet.

use kernel_base::hooks::Lab;

pub struct Cow;

impl Lab for Cow {
    fn name(&self) -> &'static str {
        "cow"
    }
}
