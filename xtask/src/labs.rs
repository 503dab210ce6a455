//! The labs, as the registry (`labs/registry.toml`) says; sets of enabled
//! kernel labs and the configuration name a set builds under (`base`,
//! `cow`, `trace-sysinfo` …).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use grader::registry::{Lab, Registry};

static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// Reads this tree's registry; `main` calls it first, so that a broken
/// registry is one message, not a panic later.
pub fn load() -> Result<&'static Registry, String> {
    if let Some(r) = REGISTRY.get() {
        return Ok(r);
    }
    let r = Registry::load(&grader::registry::source_root())?;
    Ok(REGISTRY.get_or_init(|| r))
}

/// This tree's registry.
pub fn registry() -> &'static Registry {
    load().unwrap_or_else(|e| panic!("{e}"))
}

/// The lab named `name` (no `lab-` prefix).
pub fn lab(name: &str) -> Option<&'static Lab> {
    registry().lab(name)
}

/// Every lab, in course order.
pub fn course_labs() -> Vec<&'static str> {
    registry().labs.iter().map(|l| l.name.as_str()).collect()
}

/// `text` (a help text) with the registry's facts put in: `{lab}` an
/// example kernel lab, `{labs}` every lab and group, `{kernel-labs}` the
/// kernel labs, `{quick}` the labs `check-starters --quick` checks,
/// `{answers}` the labs with written questions and their files.
pub fn fill(text: &str) -> String {
    let r = registry();
    let join = |labs: Vec<&str>| labs.join(" ");
    let kernel: Vec<&str> = r.kernel_labs().map(|l| l.name.as_str()).collect();
    let quick = r.labs.iter().filter(|l| l.quick).map(|l| l.name.as_str());
    let mut answers: Vec<String> = Vec::new();
    for l in &r.labs {
        if let Some(f) = &l.answers {
            answers.push(format!("{} ({f})", l.name));
        }
    }
    text.replace("{lab}", kernel.last().copied().unwrap_or("LAB"))
        .replace("{labs}", &r.names().replace(", ", " "))
        .replace("{kernel-labs}", &join(kernel.clone()))
        .replace("{quick}", &join(quick.collect()))
        .replace("{answers}", &answers.join(", "))
}

/// A set of enabled kernel labs (indices into the registry's labs); empty
/// is the base kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabSet(BTreeSet<usize>);

impl LabSet {
    pub const BASE: LabSet = LabSet(BTreeSet::new());

    /// Every kernel lab.
    pub fn all() -> LabSet {
        let labs = &registry().labs;
        LabSet((0..labs.len()).filter(|&i| labs[i].is_kernel()).collect())
    }

    /// Parses `--lab`: a lab (`cow` or `lab-cow`), a group of them
    /// (`syscall`), a comma-separated list of those, or `all`. A lab that
    /// runs on the base kernel (util) adds nothing.
    pub fn parse(spec: &str) -> Result<LabSet, String> {
        let mut set = LabSet::BASE;
        for part in spec.split(',') {
            let name = part.trim();
            if name == "all" {
                set = set.union(LabSet::all());
            } else {
                set = set.union(LabSet::one(name)?);
            }
        }
        Ok(set)
    }

    /// The set for the grader's feature names (`cow`, or `lab-cow`).
    pub fn from_features(features: &[String]) -> Result<LabSet, String> {
        features
            .iter()
            .try_fold(LabSet::BASE, |set, f| Ok(set.union(LabSet::one(f)?)))
    }

    fn one(name: &str) -> Result<LabSet, String> {
        let r = registry();
        match r.members(name) {
            Some(labs) => Ok(LabSet(
                labs.iter()
                    .filter(|l| l.is_kernel())
                    .filter_map(|l| r.labs.iter().position(|m| m.name == l.name))
                    .collect(),
            )),
            _ => Err(format!(
                "unknown lab `{name}`: the labs are {}, or `all`",
                r.names()
            )),
        }
    }

    pub fn union(mut self, other: LabSet) -> LabSet {
        self.0.extend(other.0);
        self
    }

    /// The enabled labs in canonical order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        let labs = &registry().labs;
        self.0.iter().map(move |&i| labs[i].name.as_str())
    }

    /// `base` with no labs, else the labs joined by `-`.
    pub fn config_name(&self) -> String {
        if self.0.is_empty() {
            return "base".to_string();
        }
        self.names().collect::<Vec<_>>().join("-")
    }

    /// The value of cargo's `--features`, or `None` for the base kernel.
    pub fn features(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.names().collect::<Vec<_>>().join(","))
    }

    /// The configurations CI lints: base, each lab alone, all together.
    pub fn lint_configs() -> Vec<LabSet> {
        let mut configs = vec![LabSet::BASE];
        configs.extend(LabSet::all().0.iter().map(|&i| LabSet(BTreeSet::from([i]))));
        configs.push(LabSet::all());
        configs
    }

    /// One line describing the set, for messages.
    pub fn describe(&self) -> String {
        match self.features() {
            None => "the base kernel".to_string(),
            Some(f) => format!("the kernel with {f}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel_labs() -> Vec<&'static str> {
        registry().kernel_labs().map(|l| l.name.as_str()).collect()
    }

    #[test]
    fn parses_names_lists_groups_and_all() {
        let k = kernel_labs();
        let (first, last) = (k[0], k[k.len() - 1]);
        assert_eq!(LabSet::parse(last).unwrap().config_name(), last);
        assert_eq!(
            LabSet::parse(&format!("lab-{last}")).unwrap(),
            LabSet::parse(last).unwrap()
        );
        // Canonical order whatever the order given; duplicates collapse.
        let s = LabSet::parse(&format!("{last},{first},{last}")).unwrap();
        assert_eq!(s.config_name(), format!("{first}-{last}"));
        assert_eq!(s.features(), Some(format!("{first},{last}")));
        assert_eq!(LabSet::parse("all").unwrap().config_name(), k.join("-"));
        assert_eq!(LabSet::parse(&format!("{last}, lab-{first}")).unwrap(), s);
        for g in &registry().groups {
            let want: Vec<&str> = k
                .iter()
                .copied()
                .filter(|l| g.labs.iter().any(|m| m == l))
                .collect();
            assert_eq!(
                LabSet::parse(&g.name).unwrap().names().collect::<Vec<_>>(),
                want
            );
        }
        // A lab without kernel code runs on the base kernel.
        let user_only = registry().labs.iter().find(|l| !l.is_kernel()).unwrap();
        assert_eq!(LabSet::parse(&user_only.name).unwrap(), LabSet::BASE);
    }

    #[test]
    fn base_config() {
        assert_eq!(LabSet::BASE.config_name(), "base");
        assert_eq!(LabSet::BASE.features(), None);
        assert_eq!(LabSet::from_features(&[]).unwrap(), LabSet::BASE);
    }

    #[test]
    fn unknown_lab_lists_the_valid_ones() {
        let e = LabSet::parse("nosuchlab").unwrap_err();
        assert_eq!(
            e,
            format!(
                "unknown lab `nosuchlab`: the labs are {}, or `all`",
                registry().names()
            )
        );
        assert!(e.contains(kernel_labs()[0]));
        assert!(LabSet::parse("").is_err());
        assert!(LabSet::parse(&format!("{},", kernel_labs()[0])).is_err());
        assert!(LabSet::from_features(&["nope".into()]).is_err());
    }

    #[test]
    fn grader_features() {
        let k = kernel_labs();
        let s = LabSet::from_features(&[k[1].into(), format!("lab-{}", k[0])]).unwrap();
        assert_eq!(s.config_name(), format!("{}-{}", k[0], k[1]));
    }

    #[test]
    fn lint_configs_cover_every_lab() {
        let configs = LabSet::lint_configs();
        let n = kernel_labs().len();
        assert_eq!(configs.len(), n + 2);
        assert_eq!(configs[0], LabSet::BASE);
        assert_eq!(configs[n + 1], LabSet::all());
        let names: Vec<String> = configs[1..=n].iter().map(|c| c.config_name()).collect();
        assert_eq!(names, kernel_labs());
    }
}
