//! A spec file as written: what serde reads, with the spans errors point at.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSpec {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) include: Vec<Spanned<String>>,
    /// `"all"` (every kernel lab of the registry) or a registry group: the
    /// specs of its labs, in the registry's order, as `include`.
    #[serde(rename = "include-labs")]
    pub(super) include_labs: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) features: Vec<Spanned<String>>,
    /// Required unless the spec is a group.
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) cpus: Option<Spanned<u32>>,
    /// Every test is `untrusted` (a spec for kernel tests, not for grades).
    pub(super) untrusted: Option<bool>,
    #[serde(default)]
    pub(super) random: BTreeMap<String, Spanned<RawRandom>>,
    #[serde(default)]
    pub(super) run: Vec<RawRun>,
    #[serde(default)]
    pub(super) test: Vec<RawTest>,
}

/// `{ min, max }` (an integer) or `{ bits = { name = bit, ... } }` (a
/// non-empty subset of the named bits).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRandom {
    pub(super) min: Option<i64>,
    pub(super) max: Option<i64>,
    pub(super) bits: Option<BTreeMap<String, u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRun {
    pub(super) id: Spanned<String>,
    pub(super) commands: Vec<Spanned<String>>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) until: Option<Spanned<String>>,
    pub(super) host: Option<bool>,
    pub(super) cores: Option<Spanned<u32>>,
    pub(super) stop_at: Option<Spanned<String>>,
}

/// A test or a part: the same keys, with the ones a part cannot have
/// (`run`, `timeout`, `part`) rejected when compiling.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTest {
    pub(super) name: Spanned<String>,
    pub(super) points: Option<Spanned<u32>>,
    pub(super) run: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) visibility: Option<Visibility>,
    pub(super) untrusted: Option<bool>,
    pub(super) requires: Option<Spanned<Vec<String>>>,
    #[serde(rename = "match")]
    pub(super) match_: Option<Spanned<Patterns>>,
    pub(super) no_match: Option<Spanned<Patterns>>,
    pub(super) count: Option<OneOrMany<RawCount>>,
    pub(super) delta: Option<OneOrMany<RawDelta>>,
    pub(super) range: Option<RawRangeCheck>,
    pub(super) ratio: Option<RawRatio>,
    pub(super) usertest: Option<Spanned<String>>,
    pub(super) backtrace: Option<Spanned<Vec<String>>>,
    pub(super) stopped: Option<Spanned<bool>>,
    pub(super) peer: Option<Spanned<Patterns>>,
    #[serde(default)]
    pub(super) part: Vec<RawTest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCount {
    pub(super) regex: Spanned<Patterns>,
    pub(super) times: Spanned<Number>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDelta {
    pub(super) regex: Spanned<String>,
    pub(super) by: Spanned<Number>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRangeCheck {
    pub(super) regex: Spanned<String>,
    pub(super) min: Spanned<Number>,
    pub(super) max: Spanned<Number>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRatio {
    pub(super) regex: Spanned<String>,
    pub(super) min: Spanned<f64>,
    pub(super) busy: Option<RawBusy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBusy {
    pub(super) regex: Spanned<String>,
    pub(super) max: Spanned<Number>,
}

/// A number as written: an integer, or a `"{{expression}}"` of random values.
pub(super) enum Number {
    Int(i64),
    Template(String),
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer or a \"{{expression}}\" string")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Number, E> {
                Ok(Number::Int(n))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Number, E> {
                i64::try_from(n)
                    .map(Number::Int)
                    .map_err(|_| E::custom("the number is too large"))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Number, E> {
                Ok(Number::Template(s.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One regex or a list of them; list items keep their own place.
pub(super) enum Patterns {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for Patterns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Patterns;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a regex or a list of regexes")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Patterns, E> {
                Ok(Patterns::One(s.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Patterns, A::Error> {
                let mut all = Vec::new();
                while let Some(item) = seq.next_element()? {
                    all.push(item);
                }
                Ok(Patterns::Many(all))
            }
        }
        d.deserialize_any(V)
    }
}

/// One table or a list of them (`delta = { … }` or `delta = [{ … }, { … }]`).
pub(super) struct OneOrMany<T>(pub(super) Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table or a list of tables")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|t| OneOrMany(vec![t]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut all = Vec::new();
                while let Some(item) = seq.next_element()? {
                    all.push(item);
                }
                Ok(OneOrMany(all))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}
