//! Lab names, sets of enabled labs, and the configuration name a set
//! builds under (`base`, `cow`, `trace-sysinfo` …).

/// Every lab, in canonical order: the order of configuration names and
/// feature lists.
pub const LABS: [&str; 7] = [
    "trace",
    "sysinfo",
    "pgtbl",
    "backtrace",
    "alarm",
    "lazy",
    "cow",
];

/// A set of enabled labs (one bit per entry of [`LABS`]); empty is the base
/// kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LabSet(u8);

impl LabSet {
    pub const BASE: LabSet = LabSet(0);
    pub const ALL: LabSet = LabSet((1 << LABS.len()) - 1);

    /// Parses `--lab`: a lab (`cow` or `lab-cow`), a comma-separated list of
    /// them, or `all`.
    pub fn parse(spec: &str) -> Result<LabSet, String> {
        let mut set = LabSet::BASE;
        for part in spec.split(',') {
            let name = part.trim();
            if name == "all" {
                set = set.union(LabSet::ALL);
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
        let bare = name.strip_prefix("lab-").unwrap_or(name);
        match LABS.iter().position(|&l| l == bare) {
            Some(i) => Ok(LabSet(1 << i)),
            None => Err(format!(
                "unknown lab `{name}`: the labs are {}, or `all`",
                LABS.join(", ")
            )),
        }
    }

    pub fn union(self, other: LabSet) -> LabSet {
        LabSet(self.0 | other.0)
    }

    /// The enabled labs in canonical order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        LABS.iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, &l)| l)
    }

    /// `base` with no labs, else the labs joined by `-`.
    pub fn config_name(self) -> String {
        if self == LabSet::BASE {
            return "base".to_string();
        }
        self.names().collect::<Vec<_>>().join("-")
    }

    /// The value of cargo's `--features`, or `None` for the base kernel.
    pub fn features(self) -> Option<String> {
        (self != LabSet::BASE).then(|| self.names().collect::<Vec<_>>().join(","))
    }

    /// The configurations CI lints: base, each lab alone, all together.
    pub fn lint_configs() -> Vec<LabSet> {
        let mut configs = vec![LabSet::BASE];
        configs.extend((0..LABS.len()).map(|i| LabSet(1 << i)));
        configs.push(LabSet::ALL);
        configs
    }

    /// One line describing the set, for messages.
    pub fn describe(self) -> String {
        match self.features() {
            None => "the base kernel".to_string(),
            Some(f) => format!("the kernel with {f}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_lists_and_all() {
        assert_eq!(LabSet::parse("cow").unwrap().config_name(), "cow");
        assert_eq!(
            LabSet::parse("lab-cow").unwrap(),
            LabSet::parse("cow").unwrap()
        );
        // Canonical order whatever the order given; duplicates collapse.
        let s = LabSet::parse("sysinfo,trace,sysinfo").unwrap();
        assert_eq!(s.config_name(), "trace-sysinfo");
        assert_eq!(s.features().as_deref(), Some("trace,sysinfo"));
        assert_eq!(
            LabSet::parse("all").unwrap().config_name(),
            "trace-sysinfo-pgtbl-backtrace-alarm-lazy-cow"
        );
        assert_eq!(
            LabSet::parse("cow, lab-lazy").unwrap().config_name(),
            "lazy-cow"
        );
    }

    #[test]
    fn base_config() {
        assert_eq!(LabSet::BASE.config_name(), "base");
        assert_eq!(LabSet::BASE.features(), None);
        assert_eq!(LabSet::from_features(&[]).unwrap(), LabSet::BASE);
    }

    #[test]
    fn unknown_lab_lists_the_valid_ones() {
        let e = LabSet::parse("cow,fs").unwrap_err();
        assert_eq!(
            e,
            "unknown lab `fs`: the labs are trace, sysinfo, pgtbl, backtrace, alarm, lazy, cow, or `all`"
        );
        assert!(LabSet::parse("").is_err());
        assert!(LabSet::parse("cow,").is_err());
        assert!(LabSet::from_features(&["nope".into()]).is_err());
    }

    #[test]
    fn grader_features() {
        let s = LabSet::from_features(&["cow".into(), "lab-trace".into()]).unwrap();
        assert_eq!(s.config_name(), "trace-cow");
    }

    #[test]
    fn lint_configs_cover_every_lab() {
        let configs = LabSet::lint_configs();
        assert_eq!(configs.len(), 9);
        assert_eq!(configs[0], LabSet::BASE);
        assert_eq!(configs[8], LabSet::ALL);
        let names: Vec<String> = configs[1..8].iter().map(|c| c.config_name()).collect();
        assert_eq!(names, LABS);
    }
}
