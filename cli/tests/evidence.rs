//! `envtrail evidence` end to end with the real binary: the demo snapshots imported into a store,
//! a key made by `evidence keygen` (and one by `openssl`), a bundle exported, verified with no
//! database present, then broken; and `asof`/`history --evidence`.

mod support;

use std::process::Command;

use support::{Workspace, assert_valid};

fn export(ws: &Workspace, extra: &[&str]) -> support::Run {
    let mut args = vec![
        "evidence",
        "export",
        "--env",
        "prod",
        "--from",
        "2026-11-13",
        "--to",
        "2026-11-18",
        "--key",
        "k.pem",
        "--out",
        "b.json",
    ];
    args.extend(extra);
    ws.run(&args)
}

#[test]
fn export_then_verify_without_the_database() {
    let ws = Workspace::new();
    ws.import_demo_snapshots();
    let keygen = ws.run(&["evidence", "keygen", "--out", "k.pem"]);
    assert_eq!(keygen.code, 0, "{}", keygen.stderr);
    let private = std::fs::read_to_string(ws.path("k.pem")).unwrap();
    let secret: String = private
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(!keygen.stdout.contains(&secret) && !keygen.stderr.contains(&secret));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ws.path("k.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // keygen never overwrites a key.
    assert_eq!(ws.run(&["evidence", "keygen", "--out", "k.pem"]).code, 1);

    let run = export(&ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains(&secret));
    let bundle = std::fs::read_to_string(ws.path("b.json")).unwrap();
    assert!(
        !bundle.contains(&secret),
        "the private key is never in the bundle"
    );
    assert!(
        bundle.contains("BEGIN PUBLIC KEY"),
        "the public key is named"
    );

    // No database: remove it and verify from another directory.
    std::fs::remove_file(ws.db()).unwrap();
    let run = ws.run(&[
        "--format",
        "json",
        "evidence",
        "verify",
        "b.json",
        "--key",
        "k.pem.pub",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let check = run.json();
    assert_eq!(check["schema"], "envtrail.evidence-check.v1");
    assert_eq!(check["ok"], true);
    assert_eq!(check["snapshots"], 2);
    assert_eq!(check["key_pinned"], true);
    assert!(!ws.db().exists(), "verify did not create a store");

    let run = ws.run(&["evidence", "verify", "b.json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("not pinned") || run.stdout.contains("pass --key"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_changed_byte_or_another_key_exits_1_naming_what_broke() {
    let ws = Workspace::new();
    ws.import_demo_snapshots();
    assert_eq!(ws.run(&["evidence", "keygen", "--out", "k.pem"]).code, 0);
    assert_eq!(
        ws.run(&["evidence", "keygen", "--out", "other.pem"]).code,
        0
    );
    assert_eq!(export(&ws, &[]).code, 0);

    let text = std::fs::read_to_string(ws.path("b.json")).unwrap();
    let tampered = text.replacen(
        "payments-db.prod.acme.internal",
        "payments-db.prod.acme.internaX",
        1,
    );
    assert_ne!(tampered, text);
    ws.write("t.json", &tampered);
    let run = ws.run(&["evidence", "verify", "t.json", "--key", "k.pem.pub"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("FAILED"), "{}", run.stdout);
    assert!(
        run.stderr.contains("t.json failed verification"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("signature does not verify"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("component state"),
        "the altered state is named: {}",
        run.stdout
    );

    let run = ws.run(&["evidence", "verify", "b.json", "--key", "other.pem.pub"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("not by the key given"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_openssl_key_signs_and_a_component_bundle_verifies() {
    let ws = Workspace::new();
    ws.import_demo_snapshots();
    let made = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(ws.path("k.pem"))
        .status();
    let Ok(status) = made else {
        panic!("openssl is needed by this test (Debian: apt-get install openssl)");
    };
    assert!(status.success());
    let public = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(ws.path("k.pem"))
        .arg("-out")
        .arg(ws.path("k.pub"))
        .status()
        .unwrap();
    assert!(public.success());
    let run = export(&ws, &["--component", "payments-api"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = ws.run(&[
        "--format", "json", "evidence", "verify", "b.json", "--key", "k.pub",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.json()["component"], "payments-api");
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path("b.json")).unwrap()).unwrap();
    let states = bundle["bundle"]["states"].as_object().unwrap();
    assert!(!states.is_empty());
    for state in states.values() {
        for w in state["workloads"].as_array().unwrap() {
            assert_eq!(w["component"], "payments-api");
        }
    }

    let run = export(&ws, &["--component", "no-such-thing"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no-such-thing"), "{}", run.stderr);
}

#[test]
fn export_errors_name_the_key_and_the_period() {
    let ws = Workspace::new();
    ws.import_demo_snapshots();
    ws.write(
        "k.pem",
        "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n",
    );
    let run = export(&ws, &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("k.pem"), "{}", run.stderr);
    assert_eq!(ws.run(&["evidence", "keygen", "--out", "k2.pem"]).code, 0);
    let run = ws.run(&[
        "evidence",
        "export",
        "--env",
        "prod",
        "--from",
        "2025-01-01",
        "--to",
        "2025-02-01",
        "--key",
        "k2.pem",
        "--out",
        "b.json",
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no snapshot between"), "{}", run.stderr);
    assert!(!ws.path("b.json").exists());
}

#[test]
fn asof_and_history_evidence_print_links_that_recompute() {
    let ws = Workspace::new();
    ws.import_demo_snapshots();
    let run = ws.run(&[
        "--format",
        "json",
        "asof",
        "prod",
        "2026-11-16",
        "--evidence",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let answer = run.json();
    let chain = &answer["chain"];
    let head = chain["chain_head"].as_str().unwrap();
    let verify = ws.run(&["--format", "json", "verify"]);
    assert_eq!(verify.json()["chain_head"], head);
    let links = chain["links"].as_array().unwrap();
    let used = answer["evidence"]["snapshot"]["id"].as_i64().unwrap();
    let link = links
        .iter()
        .find(|l| l["id"] == used)
        .expect("the snapshot used is there");
    // link = sha256(previous_link || "\n" || content_hash), as docs/compliance.md says.
    let recomputed = envtrail_model::canonical::chain_link(
        link["previous_link"].as_str().unwrap(),
        link["content_hash"].as_str().unwrap(),
    );
    assert_eq!(recomputed, link["link"].as_str().unwrap());
    assert_eq!(answer["evidence"]["snapshot"]["hash"], link["link"]);
    // Without --evidence the field is absent (the contract only grows).
    let plain = ws
        .run(&["--format", "json", "asof", "prod", "2026-11-16"])
        .json();
    assert!(plain.get("chain").is_none());

    let run = ws.run(&["history", "prod", "--since", "2026-11-14", "--evidence"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("chain head: "), "{}", run.stdout);
    assert!(run.stdout.contains(head), "{}", run.stdout);
}

#[test]
fn the_bundle_the_check_and_the_evidence_fields_match_their_schemas() {
    let ws = Workspace::new();
    ws.import_demo_snapshots();
    assert_eq!(ws.run(&["evidence", "keygen", "--out", "k.pem"]).code, 0);
    assert_eq!(export(&ws, &[]).code, 0);
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path("b.json")).unwrap()).unwrap();
    assert_valid("evidence.v1.schema.json", &bundle);
    let check = ws
        .run(&["--format", "json", "evidence", "verify", "b.json"])
        .json();
    assert_valid("evidence-check.v1.schema.json", &check);
    let asof = ws
        .run(&[
            "--format",
            "json",
            "asof",
            "prod",
            "2026-11-16",
            "--evidence",
        ])
        .json();
    assert_valid("asof.v1.schema.json", &asof);
    let history = ws
        .run(&["--format", "json", "history", "prod", "--evidence"])
        .json();
    assert_valid("history.v1.schema.json", &history);
    assert!(history["chain"]["links"].as_array().unwrap().len() >= 3);
}

#[test]
fn a_cosign_key_pair_signs_and_its_public_key_pins() {
    use sigstore::crypto::SigningScheme;
    let ws = Workspace::new();
    ws.import_demo_snapshots();
    // What `cosign generate-key-pair` writes: an encrypted private key and cosign.pub.
    let pair = SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .unwrap()
        .to_sigstore_keypair()
        .unwrap();
    ws.write(
        "cosign.key",
        &pair.private_key_to_encrypted_pem(b"s3cret").unwrap(),
    );
    ws.write("cosign.pub", &pair.public_key_to_pem().unwrap());
    let run = |password: &str| {
        Command::new(env!("CARGO_BIN_EXE_envtrail"))
            .current_dir(ws.dir.path())
            .arg("--db")
            .arg(ws.db())
            .args([
                "evidence",
                "export",
                "--env",
                "prod",
                "--from",
                "2026-11-13",
                "--to",
                "2026-11-18",
                "--key",
                "cosign.key",
                "--out",
                "c.json",
            ])
            .env("COSIGN_PASSWORD", password)
            .output()
            .unwrap()
    };
    let wrong = run("nope");
    assert_eq!(wrong.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("password"), "{stderr}");
    let ok = run("s3cret");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let check = ws.run(&[
        "--format",
        "json",
        "evidence",
        "verify",
        "c.json",
        "--key",
        "cosign.pub",
    ]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
    let bundle = std::fs::read_to_string(ws.path("c.json")).unwrap();
    assert!(bundle.contains("\"algorithm\":\"ecdsa-p256-sha256\""));
    assert_eq!(ws.run(&["evidence", "keygen", "--out", "ed.pem"]).code, 0);
    let other = ws.run(&["evidence", "verify", "c.json", "--key", "ed.pem.pub"]);
    assert_eq!(other.code, 1);
    assert!(
        other.stdout.contains("not by the key given"),
        "{}",
        other.stdout
    );
}
