use super::*;

const GOOD: &str = r#"
name = "demo"
timeout = "30s"

[random]
n = { min = 10, max = 20 }

[[run]]
id = "echo"
commands = ["echo {{n}}"]
timeout = "5s"

[[test]]
name = "echo"
points = 5
run = "echo"
match = '^{{n}}$'

[[test]]
name = "suite"
run = "echo"
timeout = "60s"
visibility = "hidden"

[[test.part]]
name = "one"
points = 2
usertest = "one"

[[test.part]]
name = "two"
points = 3
count = { regex = ['^a$', '^b$'], times = 1 }
no_match = 'x'
"#;

/// Writes specs into a fresh `labs/` and returns the root.
fn labs_dir(specs: &[(&str, &str)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("labs")).unwrap();
    for (name, text) in specs {
        std::fs::write(root.path().join(format!("labs/{name}.toml")), text).unwrap();
    }
    root
}

#[test]
fn host_runs_and_what_they_may_not_have() {
    let host = |run: &str| {
        GOOD.replace(
            "id = \"echo\"",
            &format!("id = \"echo\"\nhost = true\n{run}"),
        )
    };
    let spec = parse(&host("cores = 2"), "labs/demo.toml", 1).unwrap();
    let run = spec.runs.iter().find(|r| r.host).unwrap();
    assert_eq!(run.cores, 2);
    assert_eq!(run.host_programs().collect::<Vec<_>>(), ["echo"]);
    let plain = parse(GOOD, "labs/demo.toml", 1).unwrap();
    assert!(plain.runs.iter().all(|r| !r.host && r.cores == 1));
    assert_eq!(plain.runs[0].host_programs().count(), 0);
    let err = |text: &str| parse(text, "labs/demo.toml", 1).unwrap_err().to_string();
    assert!(err(&host("cores = 0")).contains("`cores` is at least 1"));
    assert!(err(&host("until = 'x'")).contains("has no `until`"));
    let qemu_cores = GOOD.replace("id = \"echo\"", "id = \"echo\"\ncores = 2");
    assert!(err(&qemu_cores).contains("`cores` is for host runs"));
    let path = host("").replace(
        "commands = [\"echo {{n}}\"]",
        "commands = [\"/bin/sh -c x\"]",
    );
    assert!(
        err(&path).contains("a program of the tree's, not \"/bin/sh\""),
        "{}",
        err(&path)
    );
}

#[test]
fn include_labs_takes_the_registrys_labs_in_its_order() {
    let spec = |name: &str| {
        GOOD.replace("name = \"demo\"", &format!("name = \"lab-{name}\""))
            .replace(
                "name = \"echo\"\npoints",
                &format!("name = \"echo-{name}\"\npoints"),
            )
            .replace("name = \"suite\"", &format!("name = \"suite-{name}\""))
    };
    let (z, a, u) = (spec("z"), spec("a"), spec("u"));
    let root = labs_dir(&[
        ("lab-z", &z),
        ("lab-a", &a),
        ("lab-u", &u),
        ("every", "name = \"every\"\ninclude-labs = \"all\"\n"),
        ("pair", "name = \"pair\"\ninclude-labs = \"g\"\n"),
        ("nogroup", "name = \"nogroup\"\ninclude-labs = \"h\"\n"),
        (
            "both",
            "name = \"both\"\ninclude = [\"lab-a\"]\ninclude-labs = \"g\"\n",
        ),
    ]);
    // Without a registry, there is nothing to include.
    let e = load(root.path(), "every", 1).unwrap_err().to_string();
    assert!(
        e.starts_with("labs/every.toml:2: `include-labs` needs the registry"),
        "{e}"
    );
    std::fs::write(
        root.path().join(registry::FILE),
        "[[lab]]\nname = \"u\"\nuser = [\"p\"]\npoints = 1\neditions = []\n\
         [[lab]]\nname = \"z\"\nkernel = \"Z\"\npoints = 1\neditions = []\n\
         [[lab]]\nname = \"a\"\nkernel = \"A\"\npoints = 1\neditions = []\n\
         [[group]]\nname = \"g\"\nlabs = [\"a\", \"u\"]\n",
    )
    .unwrap();
    // "all" is the kernel labs, in the registry's order, not the alphabet's.
    assert_eq!(
        load(root.path(), "every", 1).unwrap().includes,
        ["lab-z", "lab-a"]
    );
    assert_eq!(
        load(root.path(), "pair", 1).unwrap().includes,
        ["lab-a", "lab-u"]
    );
    let e = load(root.path(), "nogroup", 1).unwrap_err().to_string();
    assert!(
        e.contains("takes \"all\" or a group of labs/registry.toml (g)"),
        "{e}"
    );
    let e = load(root.path(), "both", 1).unwrap_err().to_string();
    assert!(e.contains("`include` or `include-labs`, not both"), "{e}");
}

#[test]
fn group_merges_included_specs() {
    // Random values are drawn per spec: a shared boot types no random value.
    let demo = GOOD.replace("echo {{n}}", "echo shared");
    let other = demo
        .replace("name = \"demo\"", "name = \"other\"\nfeatures = [\"cow\"]")
        .replace("name = \"echo\"\npoints", "name = \"echo2\"\npoints")
        .replace("name = \"suite\"", "name = \"suite2\"")
        .replace("timeout = \"5s\"\n", "");
    let root = labs_dir(&[
        ("demo", &demo),
        ("other", &other),
        ("both", "name = \"both\"\ninclude = [\"demo\", \"other\"]\n"),
    ]);
    let g = load(root.path(), "both", 3).unwrap();
    assert_eq!(g.includes, ["demo", "other"]);
    assert_eq!(g.features, ["cow"]);
    // Both type the same commands on the same kernel: one boot, with
    // the longer timeout (other's run has its spec's default, 30 s).
    let ids: Vec<&str> = g.runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["demo.echo"]);
    assert_eq!(g.runs[0].timeout, Some(Duration::from_secs(30)));
    assert_eq!(
        g.points(),
        2 * load(root.path(), "demo", 3).unwrap().points()
    );
    let echo2 = g.tests.iter().find(|t| t.name == "echo2").unwrap();
    assert_eq!(echo2.run, 0);
    assert!(
        g.tests
            .iter()
            .filter(|t| t.name == "suite2")
            .all(|t| t.parts.iter().all(|p| p.run == 0))
    );
}

#[test]
fn group_keeps_different_runs_and_names_same_named_tests_by_lab() {
    let other = GOOD
        .replace("name = \"demo\"", "name = \"other\"")
        .replace("echo {{n}}", "echo other");
    let root = labs_dir(&[
        ("demo", GOOD),
        ("other", &other),
        ("both", "name = \"both\"\ninclude = [\"demo\", \"other\"]\n"),
    ]);
    let g = load(root.path(), "both", 3).unwrap();
    let ids: Vec<&str> = g.runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["demo.echo", "other.echo"]);
    let names: Vec<&str> = g.tests.iter().map(|t| t.name.as_str()).collect();
    assert!(
        names.contains(&"demo: echo") && names.contains(&"other: echo"),
        "{names:?}"
    );
    let suite = g.tests.iter().find(|t| t.name == "other: suite").unwrap();
    assert!(
        suite
            .parts
            .iter()
            .all(|p| p.name.starts_with("other: suite: "))
    );
    assert!(suite.parts.iter().all(|p| p.run == 1));
}

#[test]
fn group_errors_name_the_place() {
    let root = labs_dir(&[
        ("demo", GOOD),
        ("dup", "name = \"dup\"\ninclude = [\"demo\", \"demo\"]\n"),
        ("missing", "name = \"missing\"\ninclude = [\"nope\"]\n"),
        ("looped", "name = \"looped\"\ninclude = [\"looped\"]\n"),
        (
            "mixed",
            &GOOD.replace("name = \"demo\"", "name = \"mixed\"\ninclude = [\"demo\"]"),
        ),
    ]);
    let err = |lab| load(root.path(), lab, 0).unwrap_err().to_string();
    assert!(
        err("dup").starts_with("labs/dup.toml:2: demo is included twice"),
        "{}",
        err("dup")
    );
    assert!(
        err("missing").contains("no spec named nope"),
        "{}",
        err("missing")
    );
    assert!(err("looped").contains("would loop"), "{}", err("looped"));
    assert!(
        err("mixed").contains("takes its runs, tests"),
        "{}",
        err("mixed")
    );
    let text = "name = \"g\"\ninclude = [\"demo\"]\n";
    assert!(
        parse(text, "labs/g.toml", 0)
            .unwrap_err()
            .to_string()
            .contains("cannot include demo")
    );
}

#[test]
fn delta_takes_one_table_or_a_list() {
    let one = GOOD.replace(
        "match = '^{{n}}$'",
        "delta = { regex = 'a: (\\d+)', by = 2 }",
    );
    let spec = parse(&one, "labs/demo.toml", 1).unwrap();
    let deltas = |s: &Spec| {
        s.tests[0]
            .checks
            .iter()
            .filter(|c| matches!(c, Check::Delta { .. }))
            .count()
    };
    assert_eq!(deltas(&spec), 1);
    let two = GOOD.replace(
        "match = '^{{n}}$'",
        "delta = [{ regex = 'a: (\\d+)', by = 2 }, { regex = 'b: (\\d+)', by = 0 }]",
    );
    assert_eq!(deltas(&parse(&two, "labs/demo.toml", 1).unwrap()), 2);
    let bad = GOOD.replace("match = '^{{n}}$'", "delta = [{ regex = 'a: (\\d+)' }]");
    assert!(
        parse_err(&bad).contains("missing field `by`"),
        "{}",
        parse_err(&bad)
    );
}

fn parse_err(text: &str) -> String {
    parse(text, "labs/demo.toml", 1).unwrap_err().to_string()
}

#[test]
fn compiles_a_good_spec() {
    let spec = parse(GOOD, "labs/demo.toml", 7).unwrap();
    assert_eq!(spec.name, "demo");
    assert_eq!(spec.cpus, 3);
    assert_eq!(spec.timeout, Duration::from_secs(30));
    assert_eq!(spec.points(), 10);
    let n = spec.random["n"];
    assert!((10..=20).contains(&n));
    assert_eq!(spec.runs[0].commands, vec![format!("echo {n}")]);
    assert_eq!(spec.runs[0].timeout, Some(Duration::from_secs(5)));
    let Check::Match(re) = &spec.tests[0].checks[0] else {
        panic!("expected a match check")
    };
    assert_eq!(re[0].as_str(), format!("^{n}$"));
    let suite = &spec.tests[1];
    assert_eq!(suite.points, 5);
    assert_eq!(suite.parts[0].name, "suite: one");
    assert_eq!(suite.parts[1].visibility, Visibility::Hidden);
    assert_eq!(suite.parts[1].checks.len(), 2);
    assert_eq!(suite.parts[1].run, 0);
}

#[test]
fn untrusted_is_off_unless_asked_and_parts_inherit_it() {
    let spec = parse(GOOD, "labs/demo.toml", 7).unwrap();
    assert!(spec.tests.iter().all(|t| !t.untrusted));
    let text = GOOD.replacen(
        "[[test]]\nname = \"suite\"",
        "[[test]]\nname = \"suite\"\nuntrusted = true",
        1,
    );
    assert_ne!(text, GOOD);
    let spec = parse(&text, "labs/demo.toml", 7).unwrap();
    assert!(!spec.tests[0].untrusted);
    assert!(spec.tests[1].parts.iter().all(|p| p.untrusted));
    let all = GOOD.replacen(
        "name = \"demo\"\n",
        "name = \"demo\"\nuntrusted = true\n",
        1,
    );
    assert_ne!(all, GOOD);
    let spec = parse(&all, "labs/demo.toml", 7).unwrap();
    assert!(
        spec.tests
            .iter()
            .all(|t| t.untrusted && t.parts.iter().all(|p| p.untrusted))
    );
}

#[test]
fn the_seed_decides_the_draw() {
    let draw = |seed| parse(GOOD, "labs/demo.toml", seed).unwrap().random["n"];
    assert_eq!(draw(42), draw(42));
    let seen: HashSet<i64> = (0..50).map(draw).collect();
    assert!(seen.len() > 5, "draws should vary with the seed: {seen:?}");
    assert!(seen.iter().all(|n| (10..=20).contains(n)));
}

#[test]
fn unknown_key_names_its_line() {
    let text = GOOD.replace("timeout = \"5s\"", "timeout = \"5s\"\ntimout = \"1s\"");
    let e = parse_err(&text);
    assert!(
        e.starts_with("labs/demo.toml:12: unknown field `timout`"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1);
}

#[test]
fn bad_regex_names_its_line() {
    let e = parse_err(&GOOD.replace("'^{{n}}$'", "'^({{n}}$'"));
    assert!(e.starts_with("labs/demo.toml:17: bad regex '^("), "{e}");
    assert!(e.ends_with("unclosed group"), "{e}");
    let e = parse_err(&GOOD.replace("'^b$'", "'^b[$'"));
    assert!(e.starts_with("labs/demo.toml:33: bad regex '^b[$'"), "{e}");
}

#[test]
fn missing_field_names_its_line() {
    let e = parse_err(&GOOD.replace("points = 5\n", ""));
    assert_eq!(e, "labs/demo.toml:14: test \"echo\" needs `points`");
    let e = parse_err(&GOOD.replace("id = \"echo\"\n", ""));
    assert!(e.starts_with("labs/demo.toml:8: missing field `id`"), "{e}");
    let e = parse_err(&GOOD.replace("timeout = \"30s\"\n", ""));
    assert!(e.starts_with("labs/demo.toml:"), "{e}");
    assert!(e.contains("missing field `timeout`"), "{e}");
}

#[test]
fn semantic_mistakes_are_located() {
    let cases = [
        (
            GOOD.replace("run = \"echo\"\nmatch", "run = \"ehco\"\nmatch"),
            "labs/demo.toml:16: no [[run]] has id \"ehco\" (runs: echo)",
        ),
        (
            GOOD.replace("echo {{n}}", "echo {{m}}"),
            "labs/demo.toml:10: {{m}} names no [random] value",
        ),
        (
            GOOD.replace("\"5s\"", "\"5 fortnights\""),
            "labs/demo.toml:11: bad duration \"5 fortnights\": unknown time unit \"fortnights\", \
             supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years \
             (and few variations); write it like \"30s\", \"500ms\" or \"2m\"",
        ),
        (
            GOOD.replace("name = \"demo\"", "name = \"other\""),
            "labs/demo.toml:2: name is \"other\" but the file is labs/demo.toml: they must agree",
        ),
        (
            GOOD.replace("name = \"two\"", "name = \"one\""),
            "labs/demo.toml:31: two tests are named \"suite: one\"",
        ),
        (
            GOOD.replace(
                "visibility = \"hidden\"",
                "visibility = \"hidden\"\npoints = 5",
            ),
            "labs/demo.toml:24: a test with parts scores its parts' points: move `points` into the parts",
        ),
        (
            GOOD.replace("usertest = \"one\"", "usertest = \"one\"\nrun = \"echo\""),
            "labs/demo.toml:29: a part takes its run from its test: remove `run`",
        ),
        (
            GOOD.replace(
                "match = '^{{n}}$'",
                "delta = { regex = 'copyin: \\d+', by = 2 }",
            ),
            "labs/demo.toml:17: a delta regex needs exactly one capture group, around the number",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse_err(&text), want);
    }
}

#[test]
fn a_test_must_check_something_and_a_run_must_be_used() {
    let e = parse_err(&GOOD.replace("match = '^{{n}}$'", ""));
    assert!(e.contains("checks nothing"), "{e}");
    let extra = format!("{GOOD}\n[[run]]\nid = \"idle\"\ncommands = []\n");
    let e = parse_err(&extra);
    assert!(e.ends_with("no test uses run \"idle\""), "{e}");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration(" 1m 30s "), Ok(Duration::from_secs(90)));
    for (bad, why) in [
        ("30", "time unit needed"),
        ("s", "expected number"),
        ("0s", "more than zero"),
        ("-1s", "expected number"),
        ("3 fortnights", "unknown time unit"),
        ("", "value was empty"),
    ] {
        let err = parse_duration(bad).unwrap_err();
        assert!(err.contains(why), "{bad:?}: {err}");
    }
}

const RANDOM: &str = r#"
name = "demo"
timeout = "30s"

[random]
n = { min = 100, max = 999 }
mask = { bits = { read = 5, write = 16, close = 21 } }

[[run]]
id = "r"
commands = ["trace {{mask}} calls {{n}}"]

[[test]]
name = "calls"
points = 5
run = "r"
count = [
{ regex = '^read -> {{n}}$', times = "{{mask.read}}" },
{ regex = '^write -> {{n * 2 + 1}}$', times = "{{ mask.write }}" },
{ regex = '^close$', times = 0 },
]
range = { regex = '^calls: (\d+)$', min = "{{n / 10}}", max = "{{(n + 1) * 3 - n % 7}}" }
delta = { regex = '^k: (\d+)$', by = "{{-n}}" }
"#;

#[test]
fn bits_draw_a_non_empty_subset_and_expressions_compute() {
    let mut masks = HashSet::new();
    for seed in 0..64 {
        let spec = parse(RANDOM, "labs/demo.toml", seed).unwrap();
        let (n, mask) = (spec.random["n"], spec.random["mask"]);
        assert!(
            mask != 0 && mask & !(1 << 5 | 1 << 16 | 1 << 21) == 0,
            "{mask:#x}"
        );
        masks.insert(mask);
        assert_eq!(spec.runs[0].commands, [format!("trace {mask} calls {n}")]);
        let checks = &spec.tests[0].checks;
        let Check::Count { regexes, times } = &checks[0] else {
            panic!("count first")
        };
        assert_eq!(regexes[0].as_str(), format!("^read -> {n}$"));
        assert_eq!(*times, (mask >> 5 & 1) as usize);
        let Check::Count { regexes, times } = &checks[1] else {
            panic!("a second count")
        };
        assert_eq!(regexes[0].as_str(), format!("^write -> {}$", n * 2 + 1));
        assert_eq!(*times, (mask >> 16 & 1) as usize);
        assert!(matches!(&checks[2], Check::Count { times: 0, .. }));
        let Check::Delta { by, .. } = &checks[3] else {
            panic!("delta after count")
        };
        assert_eq!(*by, -n);
        let Check::Range { min, max, .. } = &checks[4] else {
            panic!("range last")
        };
        assert_eq!((*min, *max), (n / 10, (n + 1) * 3 - n % 7));
    }
    // Every non-empty subset of three bits turns up.
    assert_eq!(masks.len(), 7, "{masks:?}");
    // Only the random part of the report: no mask.read entries.
    let spec = parse(RANDOM, "labs/demo.toml", 1).unwrap();
    assert_eq!(spec.random.keys().collect::<Vec<_>>(), ["mask", "n"]);
}

#[test]
fn draws_depend_on_the_seed_the_spec_and_the_name() {
    let draw = |text: &str, file: &str, seed| parse(text, file, seed).unwrap().random["n"];
    let other = RANDOM.replace("name = \"demo\"", "name = \"other\"");
    let differ = (0..20)
        .filter(|&s| draw(RANDOM, "labs/demo.toml", s) != draw(&other, "labs/other.toml", s))
        .count();
    assert!(differ > 15, "two specs draw alike: {differ} of 20 differ");
    // Adding a value leaves the others as they were.
    let more = RANDOM.replace("[random]\n", "[random]\naaa = { min = 1, max = 9 }\n");
    for seed in 0..20 {
        assert_eq!(
            draw(RANDOM, "labs/demo.toml", seed),
            draw(&more, "labs/demo.toml", seed)
        );
    }
}

#[test]
fn bad_random_values_and_expressions_are_located() {
    let cases = [
        (
            RANDOM.replace("{{mask.read}}", "{{mask.raed}}"),
            "labs/demo.toml:18: {{mask.raed}} names no [random] value",
        ),
        (
            RANDOM.replace("{{n * 2 + 1}}", "{{n * (2 + 1}}"),
            "labs/demo.toml:19: {{n * (2 + 1}}: a \"(\" is not closed",
        ),
        (
            RANDOM.replace("{{n / 10}}", "{{n / (n - n)}}"),
            "labs/demo.toml:22: {{n / (n - n)}} divides by zero",
        ),
        (
            RANDOM.replace("{{n / 10}}", "{{n 10}}"),
            "labs/demo.toml:22: {{n 10}}: unexpected \"10\"",
        ),
        (
            RANDOM.replace("times = 0", "times = \"{{0 - 1}}\""),
            "labs/demo.toml:20: times is -1: it cannot be negative",
        ),
        (
            RANDOM.replace("times = 0", "times = \"zero\""),
            "labs/demo.toml:20: \"zero\" is not a number: write a number or \"{{n + 1}}\"",
        ),
        (
            RANDOM.replace("write = 16", "write = 5"),
            "labs/demo.toml:7: random mask: bit 5 of write is above 62 or given twice",
        ),
        (
            RANDOM.replace("{ min = 100, max = 999 }", "{ min = 100 }"),
            "labs/demo.toml:6: random n: write { min = 1, max = 9 } or { bits = { a = 0, b = 3 } }",
        ),
        (
            RANDOM.replace("min = \"{{n / 10}}\"", "min = 5000"),
            "labs/demo.toml:22: the range is empty: min 5000 is above max",
        ),
        (
            RANDOM.replace("'^calls: (\\d+)$'", "'^calls: \\d+$'"),
            "labs/demo.toml:22: a range regex needs exactly one capture group, around the number",
        ),
    ];
    for (text, want) in cases {
        let got = parse_err(&text);
        assert!(got.starts_with(want), "want {want:?}\n got {got:?}");
    }
}

#[test]
fn ratio_takes_a_factor_and_a_busy_bound() {
    let spec = |ratio: &str| {
        format!(
            "name = \"demo\"\nfeatures = []\ntimeout = \"30s\"\n\
             [random]\nn = {{ min = 10, max = 20 }}\n\
             [[run]]\nid = \"r\"\nhost = true\ncommands = [\"ph 1\", \"ph 2\"]\n\
             [[test]]\nname = \"fast\"\npoints = 1\nrun = \"r\"\nratio = {ratio}\n"
        )
    };
    let good = spec(
        "{ regex = ' (\\d+) puts/second$', min = 1.25, busy = { regex = '^w (\\d+)%$', max = \"{{n}}\" } }",
    );
    let parsed = parse(&good, "labs/demo.toml", 3).unwrap();
    let n = parsed.random["n"];
    let Check::Ratio { regex, min, busy } = &parsed.tests[0].checks[0] else {
        panic!("a ratio check")
    };
    assert_eq!((regex.as_str(), *min), (r" (\d+) puts/second$", 1.25));
    assert_eq!(
        busy.as_ref().map(|(r, m)| (r.as_str(), *m)),
        Some((r"^w (\d+)%$", n))
    );
    for (ratio, want) in [
        (
            "{ regex = ' \\d+ puts', min = 2 }",
            "labs/demo.toml:14: a ratio regex needs exactly one capture group",
        ),
        (
            "{ regex = ' (\\d+) puts', min = 0.0 }",
            "labs/demo.toml:14: min is 0: a ratio is above 0",
        ),
        (
            "{ regex = ' (\\d+) puts', min = 1.5, busy = { regex = 'w', max = 3 } }",
            "labs/demo.toml:14: a busy regex needs exactly one capture group",
        ),
        (
            "{ regex = ' (\\d+) puts', min = 1.5, max = 3 }",
            "labs/demo.toml:14: unknown field `max`",
        ),
    ] {
        let got = parse_err(&spec(ratio));
        assert!(got.starts_with(want), "want {want:?}\n got {got:?}");
    }
}

#[test]
fn features_must_be_the_registrys_kernel_labs() {
    let root = labs_dir(&[(
        "demo",
        &GOOD.replace(
            "timeout = \"30s\"",
            "timeout = \"30s\"\nfeatures = [\"cow\", \"nosuch\"]",
        ),
    )]);
    // Without a registry, nothing to check against.
    assert!(load(root.path(), "demo", 1).is_ok());
    let lab = |n: &str, k: &str| {
        format!("[[lab]]\nname = \"{n}\"\nkernel = \"{k}\"\npoints = 1\neditions = []\n")
    };
    std::fs::write(
        root.path().join(registry::FILE),
        format!("{}{}", lab("trace", "T"), lab("cow", "C")),
    )
    .unwrap();
    assert_eq!(known_features(root.path()).unwrap(), ["cow", "trace"]);
    let e = load(root.path(), "demo", 1).unwrap_err().to_string();
    assert_eq!(
        e,
        "labs/demo.toml:4: no lab feature \"nosuch\" (the features are cow, trace)"
    );
}

#[test]
fn a_spec_loads_from_a_path_with_includes_from_labs() {
    let root = labs_dir(&[("demo", GOOD)]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wip.toml");
    std::fs::write(&path, GOOD.replace("\"demo\"", "\"wip\"")).unwrap();
    let spec = load_file(root.path(), &path, "x/wip.toml", 2).unwrap();
    assert_eq!(
        (spec.name.as_str(), spec.file.as_str()),
        ("wip", "x/wip.toml")
    );
    std::fs::write(&path, "name = \"wip\"\ninclude = [\"demo\"]\n").unwrap();
    assert_eq!(
        load_file(root.path(), &path, "x/wip.toml", 2)
            .unwrap()
            .includes,
        ["demo"]
    );
    std::fs::write(&path, GOOD).unwrap();
    let e = load_file(root.path(), &path, "x/wip.toml", 2)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("x/wip.toml:2: name is \"demo\" but the file is x/wip.toml"),
        "{e}"
    );
}

#[test]
fn the_shipped_specs_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let labs = known_labs(&root);
    assert!(labs.contains(&"base".to_owned()) && labs.contains(&"lab-util".to_owned()));
    for lab in labs {
        let spec = load(&root, &lab, 0).unwrap_or_else(|e| panic!("{e}"));
        assert!(spec.points() > 0, "{lab}");
    }
}

#[test]
fn peer_checks_the_peers_record() {
    let text = GOOD.replace("match = '^{{n}}$'", "peer = ['^datagram: {{n}}$']");
    let spec = parse(&text, "labs/demo.toml", 1).unwrap();
    assert!(matches!(&spec.tests[0].checks[..], [Check::Peer(r)] if r.len() == 1));
    assert!(Check::Peer(Vec::new()).holds_on_partial_output());
    // With the registry, only a network lab's kernel has a peer to check.
    let with = |features: &str| {
        labs_dir(&[(
            "demo",
            &text.replace(
                "timeout = \"30s\"",
                &format!("timeout = \"30s\"\nfeatures = [{features}]"),
            ),
        )])
    };
    let registry = "[[lab]]\nname = \"net\"\nkernel = \"N\"\npoints = 1\neditions = []\nnetwork = true\n\
                    [[lab]]\nname = \"cow\"\nkernel = \"C\"\npoints = 1\neditions = []\n";
    for (features, ok) in [("\"net\"", true), ("\"cow\"", false), ("", false)] {
        let root = with(features);
        std::fs::write(root.path().join(registry::FILE), registry).unwrap();
        match load(root.path(), "demo", 1) {
            Ok(_) => assert!(ok, "{features}: a peer check without a network lab"),
            Err(e) => {
                let e = e.to_string();
                assert!(
                    !ok && e.contains("`peer` needs a run of a network lab's kernel"),
                    "{e}"
                );
            }
        }
    }
}

#[test]
fn stop_at_and_stopped_go_together() {
    let stopping = GOOD.replace(
        "commands = [\"echo {{n}}\"]",
        "commands = [\"echo {{n}}\"]\nstop_at = \"sys_sleep\"",
    );
    let with_check = stopping.replace("match = '^{{n}}$'", "stopped = true");
    let spec = parse(&with_check, "labs/demo.toml", 1).unwrap();
    assert_eq!(spec.runs[0].stop_at.as_deref(), Some("sys_sleep"));
    assert!(matches!(&spec.tests[0].checks[..], [Check::Stopped(f)] if f == "sys_sleep"));
    assert!(!Check::Stopped("f".into()).holds_on_partial_output());
    assert!(
        parse(GOOD, "labs/demo.toml", 1).unwrap().runs[0]
            .stop_at
            .is_none()
    );
    let err = |text: &str| parse(text, "labs/demo.toml", 1).unwrap_err().to_string();
    // A check of a stop on a run that does not stop.
    let e = err(&GOOD.replace("match = '^{{n}}$'", "stopped = true"));
    assert!(e.contains("give run \"echo\" `stop_at`"), "{e}");
    assert!(e.starts_with("labs/demo.toml:"), "{e}");
    assert!(
        err(&with_check.replace("stopped = true", "stopped = false")).contains("checks nothing")
    );
    let e = err(&stopping.replace("\"sys_sleep\"", "\"b sys_sleep; shell rm -rf /\""));
    assert!(e.contains("stop_at names a kernel function"), "{e}");
    let host = stopping.replace("id = \"echo\"", "id = \"echo\"\nhost = true");
    assert!(err(&host).contains("a host run has no kernel to stop"));
}
