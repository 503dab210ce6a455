//! Drawing a spec's random values from the seed, the spec's name and each
//! value's name.

use super::*;

impl Cx<'_> {
    /// Draws each random value from `seed`, the spec's name and the value's
    /// own name, so that adding a value changes no other.
    pub(super) fn draw(
        &self,
        spec: &str,
        raw: &BTreeMap<String, Spanned<RawRandom>>,
        seed: u64,
    ) -> Result<(BTreeMap<String, i64>, Values), SpecError> {
        let mut drawn = BTreeMap::new();
        let mut values = Values::new();
        for (name, r) in raw {
            let name_ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !name_ok {
                return Err(self.at(
                    r,
                    format!(
                        "random value \"{name}\": a name is a letter, then letters, digits or '_'"
                    ),
                ));
            }
            let mut rng =
                SplitMix64(seed ^ crate::hash::fnv1a(format!("{spec}\0{name}").as_bytes()));
            let value = match r.get_ref() {
                RawRandom {
                    min: Some(min),
                    max: Some(max),
                    bits: None,
                } => {
                    if min > max {
                        return Err(self.at(r, format!("random {name}: min is above max")));
                    }
                    let width = max.abs_diff(*min).saturating_add(1);
                    let offset = if width == 0 {
                        rng.next()
                    } else {
                        rng.next() % width
                    };
                    min.wrapping_add_unsigned(offset)
                }
                RawRandom {
                    min: None,
                    max: None,
                    bits: Some(bits),
                } => {
                    if bits.is_empty() || bits.len() > 62 {
                        return Err(self.at(r, format!("random {name}: bits names 1 to 62 bits")));
                    }
                    let mut seen = HashSet::new();
                    for (bit_name, &bit) in bits {
                        if bit > 62 || !seen.insert(bit) {
                            return Err(self.at(
                                r,
                                format!(
                                    "random {name}: bit {bit} of {bit_name} is above 62 or given twice"
                                ),
                            ));
                        }
                    }
                    // A non-empty subset: the k-th name is in it if bit k of
                    // the pick is set.
                    let subsets = (1u64 << bits.len()) - 1;
                    let pick = rng.next() % subsets + 1;
                    let mut mask = 0i64;
                    for (k, (bit_name, &bit)) in bits.iter().enumerate() {
                        let chosen = (pick >> k & 1) as i64;
                        values.insert(format!("{name}.{bit_name}"), chosen);
                        mask |= chosen << bit;
                    }
                    mask
                }
                _ => {
                    return Err(self.at(
                        r,
                        format!(
                            "random {name}: write {{ min = 1, max = 9 }} or {{ bits = {{ a = 0, b = 3 }} }}"
                        ),
                    ));
                }
            };
            drawn.insert(name.clone(), value);
            values.insert(name.clone(), value);
        }
        Ok((drawn, values))
    }
}

/// A small, well-mixed generator: the draws only need to be reproducible
/// from a seed, not cryptographic.
pub(super) struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
