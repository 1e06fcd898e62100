//! Text output on a terminal: the width it is given (`COLUMNS`), colour only when asked or on a
//! terminal, findings with their code and place on one line, tables that fit.

use std::process::{Command, Output, Stdio};

use crate::{root, stdout};

/// kscope with the environment a terminal user might have.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kscope"));
    c.args(args)
        .current_dir(root())
        .env_remove("KSCOPE_LOG")
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run kscope")
}

const LINT: [&str; 3] = ["lint", "-f", "samples/manifests"];

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    // stdout is a pipe here: auto means no colour
    let plain = stdout(&run(&LINT, &[]));
    assert!(!plain.contains('\x1b'), "{plain}");
    let always = stdout(&run(&[&LINT[..], &["--color", "always"]].concat(), &[]));
    assert!(
        always.contains("\x1b[1m\x1b[31merror") || always.contains("\x1b[1;31merror"),
        "severity in bold red: {always:?}"
    );
    assert!(always.contains("\x1b[0m"), "reset after each span");
    // the same text once the escapes are gone
    let stripped = regex::Regex::new("\x1b\\[[0-9;]*m")
        .unwrap()
        .replace_all(&always, "");
    assert_eq!(stripped, plain);
    let never = stdout(&run(
        &[&LINT[..], &["--color", "never"]].concat(),
        &[("NO_COLOR", "")],
    ));
    assert!(!never.contains('\x1b'));
}

#[test]
fn findings_keep_code_and_place_on_one_line_at_any_width() {
    let re = regex::Regex::new(
        r"^(error|warning|info)\[[A-Z]+[0-9]+\] \S+  samples/manifests/[a-z-]+\.yaml:[0-9]+$",
    )
    .unwrap();
    for cols in ["60", "100", "160"] {
        let out = stdout(&run(&LINT, &[("COLUMNS", cols)]));
        let width: usize = cols.parse().unwrap();
        let headers = out
            .lines()
            .filter(|l| l.starts_with("error[") || l.starts_with("warning["))
            .collect::<Vec<_>>();
        assert_eq!(headers.len(), 16, "{out}");
        for h in &headers {
            assert!(
                re.is_match(h),
                "a header line broken or without its place: {h:?}"
            );
        }
        // everything else wraps at the width (a URL is never broken)
        for l in out
            .lines()
            .filter(|l| !headers.contains(l) && !l.contains("://"))
        {
            assert!(
                l.chars().count() <= width,
                "{cols} columns: {} wide: {l:?}",
                l.chars().count()
            );
        }
        // one rule's fix once, however many findings it has (three DA001 in the samples)
        assert_eq!(out.matches("= fix (DA001)").count(), 1, "{out}");
        assert_eq!(out.matches("error[DA001]").count(), 3, "{out}");
    }
}

#[test]
fn tables_fit_the_width_and_wide_shows_cells_whole() {
    let sql = "SELECT user_agent, count(*) AS requests FROM audit GROUP BY user_agent ORDER BY length(user_agent) DESC, user_agent LIMIT 3";
    let longest = {
        let o = run(&["sql", sql, "samples/audit", "--format", "json"], &[]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v[0]["user_agent"].as_str().unwrap().to_string()
    };
    assert!(longest.chars().count() > 60, "{longest}");
    let narrow = stdout(&run(&["sql", sql, "samples/audit"], &[("COLUMNS", "60")]));
    for l in narrow.lines() {
        assert!(l.chars().count() <= 60, "{l:?}");
    }
    assert!(
        narrow.contains('…') && !narrow.contains(&longest),
        "{narrow}"
    );
    assert!(narrow.contains("requests"), "the header is whole: {narrow}");
    let wide = stdout(&run(
        &["sql", sql, "samples/audit", "--wide"],
        &[("COLUMNS", "60")],
    ));
    assert!(wide.contains(&longest), "{wide}");
    // a findings-only format is refused for rows, naming the ones that work
    let o = run(&["sql", sql, "samples/audit", "--format", "sarif"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        crate::stderr(&o).contains("text, json, csv, markdown, html"),
        "{}",
        crate::stderr(&o)
    );
}
