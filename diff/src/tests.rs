//! Report-level tests: the input checks, the shape of the report, determinism, and the contract
//! negatives that span several rules.

use envtrail_model::output::REPORT_SCHEMA;
use envtrail_model::{FindingKind, Severity, SourceStatus};

use crate::test_support::*;
use crate::{DiffError, Policy, report};

#[test]
fn path_and_environments_must_agree() {
    let mut i = input(&["dev", "prod"], vec![Some(EnvBuilder::at("dev").build())]);
    assert!(matches!(
        report(&i, &Policy::default()),
        Err(DiffError::PathLength { .. })
    ));
    i.environments.push(Some(EnvBuilder::at("staging").build()));
    let err = report(&i, &Policy::default()).unwrap_err();
    assert!(
        matches!(err, DiffError::PathMismatch { index: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("\"staging\""), "{err}");
}

#[test]
fn report_shape_and_summary() {
    let dev = EnvBuilder::at("dev")
        .component("api", runs(&[digest(2)]))
        .seen(&digest(1), snap("dev", 1, 50));
    // staging ran d2 once and rolled back to d1: not behind, nothing pending.
    let staging = EnvBuilder::new("staging", snap("staging", 4, 2))
        .component("api", runs(&[digest(1)]))
        .seen(&digest(2), snap("staging", 1, 40));
    let prod = EnvBuilder::at("prod")
        .component("api", runs(&[digest(9)]))
        .source("aws/prod", SourceStatus::Partial, Some("throttled"));
    let r = run(&input(
        &["dev", "staging", "prod"],
        vec![Some(dev.build()), Some(staging.build()), Some(prod.build())],
    ));
    assert_eq!(r.schema, REPORT_SCHEMA);
    assert_eq!(r.chain_head, None);
    assert_eq!(r.at, t0());
    assert_eq!(r.path, [env("dev"), env("staging"), env("prod")]);
    assert_eq!(r.environments.len(), 3);
    assert_eq!(r.environments[1].snapshot.as_ref().unwrap().seq, 4);
    assert!(r.environments[1].complete && !r.environments[2].complete);
    assert_eq!(
        summary_lines(&r),
        ["unpromoted_hotfix prod api", "collection_gap prod -"]
    );
    assert_eq!(r.summary.total, 2);
    assert_eq!(r.summary.by_kind[&FindingKind::UnpromotedHotfix], 1);
    assert_eq!(r.summary.by_severity[&Severity::High], 2);
    assert_eq!(r.summary.highest, Some(Severity::High));
    assert_eq!(r.summary.ignored, 0);
}

#[test]
fn empty_report_has_no_highest() {
    let r = run(&input(
        &["prod"],
        vec![Some(EnvBuilder::at("prod").build())],
    ));
    assert!(r.findings.is_empty());
    assert_eq!(r.summary.total, 0);
    assert_eq!(r.summary.highest, None);
}

/// A fleet of `n` components across dev, staging and prod with a mix of every situation.
fn fleet(n: u32) -> envtrail_model::view::ReportInput {
    let (mut dev, mut staging, mut prod) = (
        EnvBuilder::at("dev"),
        EnvBuilder::at("staging"),
        EnvBuilder::at("prod"),
    );
    for i in 0..n {
        let name = format!("svc-{i:05}");
        let cfg = |d: u32, v: &str| {
            StateBuilder::new()
                .container("app", &[digest(d)])
                .config("LOG", v)
                .build()
        };
        let base = i * 10;
        dev = dev.component(&name, cfg(base + 2, "debug"));
        dev = dev.seen(&digest(base + 1), snap("dev", 1, 48));
        match i % 7 {
            0 => {} // dev only: missing in staging
            1 => {
                staging = staging.component(&name, cfg(base + 1, "info"));
                prod = prod.component(&name, cfg(base + 9, "info"));
            }
            2 => {
                staging = staging.component(&name, cfg(base + 2, "debug"));
                prod = prod.component(&name, cfg(base + 2, "warn"));
            }
            _ => {
                staging = staging.component(&name, cfg(base + 2, "debug"));
                prod = prod.component(&name, cfg(base + 2, "debug"));
            }
        }
        if i % 11 == 0 {
            prod = prod.component(&format!("orphan-{i}"), runs(&[digest(base + 5)]));
        }
    }
    input(
        &["dev", "staging", "prod"],
        vec![Some(dev.build()), Some(staging.build()), Some(prod.build())],
    )
}

#[test]
fn output_is_deterministic_and_sorted() {
    let i = fleet(300);
    let a = run(&i);
    let b = run(&i);
    assert_eq!(a, b);
    assert!(
        a.findings
            .windows(2)
            .all(|w| w[0].sort_key() <= w[1].sort_key())
    );
    for kind in [
        FindingKind::MissingComponent,
        FindingKind::PendingPromotion,
        FindingKind::UnpromotedHotfix,
        FindingKind::ConfigDrift,
        FindingKind::OrphanComponent,
    ] {
        assert!(!of_kind(&a, kind).is_empty(), "no {kind} in the fleet");
    }
    assert_eq!(
        of_kind(&a, FindingKind::MissingComponent).len(),
        300usize.div_ceil(7)
    );
}

#[test]
fn failed_source_never_yields_presence_findings() {
    let mut i = fleet(100);
    for env in i.environments.iter_mut().flatten() {
        env.sources[0].status = SourceStatus::Failed;
        env.sources[0].error = Some("cluster unreachable".into());
    }
    let r = run(&i);
    assert!(of_kind(&r, FindingKind::MissingComponent).is_empty());
    assert!(of_kind(&r, FindingKind::OrphanComponent).is_empty());
    assert_eq!(of_kind(&r, FindingKind::CollectionGap).len(), 3);
}
