//! Meta-tests over the registry, the schema and the README.

use kscope::audit::scan::ScanOptions;
use kscope::audit::source::expand;
use kscope::catalogue::Overrides;
use kscope::query::{registry, select};

use crate::root;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_headers_list_the_planned_columns() {
    let queries = select(&[], &[]).unwrap();
    let sources = expand(&[root().join("samples/audit").display().to_string()])
        .unwrap()
        .sources;
    let params = Overrides::parse(&[], &queries).unwrap();
    let report = kscope::analysis::report(
        sources.clone(),
        kscope::analysis::origin(&sources),
        ScanOptions::default(),
        &queries,
        &params,
    )
    .await
    .unwrap();
    assert_eq!(report.queries.len(), registry().unwrap().len());
    for q in &report.queries {
        assert_eq!(
            q.table.columns, q.query.columns,
            "{}: header `columns` differ from the result",
            q.query.code
        );
        // the APF capacity findings need object counts and a saturated level, which
        // tests/integration/apf.rs gives them; on the samples alone they have no count to judge
        if crate::apf::NEEDS_INPUTS.contains(&q.query.code.as_str()) {
            continue;
        }
        assert!(
            !q.table.rows.is_empty(),
            "{}: no rows on the samples",
            q.query.code
        );
        if q.query.severity.is_some() {
            assert!(
                !q.findings.is_empty(),
                "{}: the samples should make it fire",
                q.query.code
            );
        }
    }
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let test_cmd = readme
        .lines()
        .find(|l| l.starts_with("cargo test"))
        .expect("README has a line starting with `cargo test`");
    assert!(ci.contains(test_cmd), ".ci/run does not run `{test_cmd}`");
}
