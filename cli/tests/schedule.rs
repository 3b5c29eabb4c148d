//! The files that run envtrail on a schedule (deploy/, .github/workflows/) are checked by the
//! real tools where they exist here: `kubectl apply --dry-run=client` against the Kubernetes
//! stand-in (kubectl needs API discovery even for a client dry run), `systemd-analyze verify`,
//! a YAML parser for the workflow; and by what they must promise: a read-only ClusterRole, a
//! non-root image and pod, the store on a PersistentVolume, the gate on `--fail-on high`. The
//! envtrail.toml inside the ConfigMap is parsed by envtrail's own config loader.

mod support;

use std::path::PathBuf;
use std::process::Command;

use envtrail_k8s_standin::{Cluster, StandIn};
use serde_json::Value;
use support::repo_root;

fn deploy(rel: &str) -> PathBuf {
    repo_root().join(rel)
}

fn yaml_docs(rel: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(deploy(rel)).unwrap();
    serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn all_manifests() -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|p| {
            let rel = p
                .strip_prefix(repo_root())
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            yaml_docs(&rel)
        })
        .collect()
}

#[test]
fn the_kubernetes_manifests_pass_a_kubectl_client_dry_run() {
    let server = StandIn::start(Cluster::new());
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, StandIn::kubeconfig(&[("standin", &server)])).unwrap();
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["apply", "--dry-run=client", "--validate=false", "-f"])
        .arg(deploy("deploy/kubernetes"))
        .output()
        .expect("kubectl runs (scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for object in [
        "namespace/envtrail",
        "serviceaccount/envtrail",
        "clusterrole.rbac.authorization.k8s.io/envtrail-reader",
        "clusterrolebinding.rbac.authorization.k8s.io/envtrail-reader",
        "persistentvolumeclaim/envtrail-store",
        "configmap/envtrail-config",
        "cronjob.batch/envtrail",
    ] {
        assert!(
            stdout.contains(&format!("{object} created (dry run)")),
            "{object}: {stdout}\n{stderr}"
        );
    }
}

#[test]
fn the_kubernetes_manifests_are_read_only_non_root_and_keep_the_store() {
    let docs = all_manifests();
    let find = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("a {kind}"))
    };
    // The ClusterRole only reads.
    let role = find("ClusterRole");
    for rule in role["rules"].as_array().unwrap() {
        for verb in rule["verbs"].as_array().unwrap() {
            assert!(
                ["get", "list", "watch"].contains(&verb.as_str().unwrap()),
                "a write verb: {verb}"
            );
        }
    }
    let binding = find("ClusterRoleBinding");
    assert_eq!(binding["subjects"][0]["name"], "envtrail");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);

    let cron = find("CronJob");
    let pod = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "envtrail");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_ne!(pod["securityContext"]["runAsUser"], 0);
    assert_eq!(
        cron["spec"]["concurrencyPolicy"], "Forbid",
        "one writer at a time"
    );
    let pvc = find("PersistentVolumeClaim");
    let volumes = pod["volumes"].as_array().unwrap();
    assert!(
        volumes
            .iter()
            .any(|v| v["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]),
        "the store is on the PVC"
    );
    let container = &pod["containers"][0];
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    let script = container["args"][0].as_str().unwrap();
    let check = Command::new("sh")
        .args(["-n", "-c", script])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "the job's script is valid sh: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    for step in [
        "envtrail collect",
        "envtrail report --out",
        "envtrail notify --only-changes",
    ] {
        assert!(script.contains(step), "the job runs {step}");
    }
    // Webhook URLs only from a Secret, never inline.
    let env = container["env"].as_array().unwrap();
    let slack = env
        .iter()
        .find(|e| e["name"] == "ENVTRAIL_SLACK_WEBHOOK")
        .unwrap();
    assert!(slack.get("value").is_none() && slack["valueFrom"]["secretKeyRef"].is_object());

    // The config inside the ConfigMap is a valid envtrail.toml with a notify target.
    let cm = find("ConfigMap");
    let toml = cm["data"]["envtrail.toml"].as_str().unwrap();
    let config = envtrail::config::Config::parse(std::path::Path::new("configmap"), toml)
        .unwrap_or_else(|e| panic!("the ConfigMap's envtrail.toml: {e}"));
    assert_eq!(config.notify.len(), 1);
    assert!(!config.path.is_empty());
}

#[test]
fn the_github_workflow_gates_on_high_and_uploads_the_report() {
    let docs = yaml_docs(".github/workflows/envtrail-gate.yml");
    assert_eq!(docs.len(), 1);
    let wf = &docs[0];
    assert!(wf["on"].is_object(), "{wf}");
    let audit = &wf["jobs"]["audit"];
    let steps = audit["steps"].as_array().unwrap();
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    for run in &runs {
        let check = Command::new("bash")
            .args(["-n", "-c", run])
            .output()
            .unwrap();
        assert!(check.status.success(), "not valid bash: {run}");
    }
    assert!(
        runs.iter()
            .any(|r| r.trim() == "envtrail report --fail-on high"),
        "{runs:?}"
    );
    assert!(
        runs.iter()
            .any(|r| r.contains("--out envtrail-report.html"))
    );
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .expect("an upload step");
    assert!(
        upload["with"]["path"]
            .as_str()
            .unwrap()
            .contains("envtrail-report.html")
    );
    assert_eq!(
        upload["if"], "always()",
        "the report is uploaded when the gate fails too"
    );
    assert_eq!(wf["jobs"]["promote"]["needs"], "audit");
}

#[test]
fn the_systemd_units_verify() {
    let service = deploy("deploy/systemd/envtrail.service");
    let timer = deploy("deploy/systemd/envtrail.timer");
    let text = std::fs::read_to_string(&service).unwrap();
    assert!(text.contains("Type=oneshot") && text.contains("User=envtrail"));
    assert!(text.contains("envtrail notify --only-changes"));
    let timer_text = std::fs::read_to_string(&timer).unwrap();
    assert!(timer_text.contains("Unit=envtrail.service") && timer_text.contains("OnCalendar="));
    // systemd-analyze wants both units side by side, by their own names.
    let dir = tempfile::tempdir().unwrap();
    for p in [&service, &timer] {
        std::fs::copy(p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    match Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(dir.path().join("envtrail.service"))
        .arg(dir.path().join("envtrail.timer"))
        .output()
    {
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{stderr}");
            assert!(
                !stderr.contains("Unknown") && !stderr.contains("ignoring"),
                "systemd-analyze complained: {stderr}"
            );
        }
        Err(e) => {
            eprintln!("systemd-analyze not installed ({e}): the units were checked by reading only")
        }
    }
}

#[test]
fn the_dockerfile_is_multi_stage_and_runs_as_a_non_root_user() {
    let text = std::fs::read_to_string(deploy("deploy/Dockerfile")).unwrap();
    let instructions: Vec<(String, String)> = text
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (op, rest) = l.split_once(' ').unwrap_or((l, ""));
            (op.to_ascii_uppercase(), rest.trim().to_owned())
        })
        .collect();
    let known = [
        "FROM",
        "WORKDIR",
        "COPY",
        "RUN",
        "USER",
        "ENV",
        "ENTRYPOINT",
        "CMD",
    ];
    for (op, _) in &instructions {
        assert!(known.contains(&op.as_str()), "unexpected instruction {op}");
    }
    let froms: Vec<&String> = instructions
        .iter()
        .filter(|(o, _)| o == "FROM")
        .map(|(_, r)| r)
        .collect();
    assert!(froms.len() >= 2, "multi-stage");
    assert!(froms[0].ends_with(" AS build"));
    let last_from = instructions.iter().rposition(|(o, _)| o == "FROM").unwrap();
    let last_stage = &instructions[last_from..];
    assert!(
        last_stage
            .iter()
            .any(|(o, r)| o == "COPY" && r.starts_with("--from=build "))
    );
    let user = last_stage
        .iter()
        .rev()
        .find(|(o, _)| o == "USER")
        .expect("a USER");
    let uid = user.1.split(':').next().unwrap();
    assert!(uid != "root" && uid != "0", "non-root: {}", user.1);
    let entry = &last_stage
        .iter()
        .find(|(o, _)| o == "ENTRYPOINT")
        .unwrap()
        .1;
    let argv: Vec<String> = serde_json::from_str(entry).expect("exec form");
    assert_eq!(argv, ["/usr/local/bin/envtrail"]);
    assert!(text.contains("--locked"), "built from Cargo.lock");
}

/// The commands of `deploy/systemd/envtrail.service`, run as written (only the binary's and the
/// state folder's paths replaced) against a stand-in cluster and a chat receiver, twice: the first
/// run collects, writes the page and the metrics and posts (a `stale_snapshot`, from a 1 ms age
/// limit); the second collects again and posts nothing, since nothing changed.
#[test]
fn the_scheduled_commands_run_end_to_end() {
    use envtrail_k8s_standin::scenario::kind_fixtures;
    use support::receiver::Receiver;

    let cluster = StandIn::start(kind_fixtures());
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let kubeconfig = state.join("kubeconfig");
    std::fs::write(&kubeconfig, StandIn::kubeconfig(&[("kind", &cluster)])).unwrap();
    let config = state.join("envtrail.toml");
    std::fs::write(
        &config,
        format!(
            "[promotion]\npath = [\"prod\"]\n[report]\nmax_snapshot_age = \"1ms\"\n[secrets]\nhmac_key_env = \"ENVTRAIL_HMAC_KEY\"\n\
             [[environments.prod.kubernetes]]\nid = \"kind\"\nkubeconfig = \"{}\"\ncontext = \"kind\"\n\
             [[notify]]\nname = \"ops\"\nkind = \"webhook\"\nurl_env = \"ENVTRAIL_OPS_WEBHOOK\"\n",
            kubeconfig.display()
        ),
    )
    .unwrap();
    let unit = std::fs::read_to_string(deploy("deploy/systemd/envtrail.service")).unwrap();
    let commands: Vec<String> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("ExecStart="))
        .map(|c| {
            c.replace("/usr/local/bin/envtrail", env!("CARGO_BIN_EXE_envtrail"))
                .replace("/var/lib/envtrail", state.to_str().unwrap())
        })
        .collect();
    assert_eq!(commands.len(), 4, "{commands:?}");
    let run_all = || {
        for command in &commands {
            // systemd runs `/bin/sh -c '…'` lines through sh, and the others directly.
            let argv: Vec<String> = match command.strip_prefix("/bin/sh -c '") {
                Some(script) => vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    script.trim_end_matches('\'').into(),
                ],
                None => command.split_whitespace().map(str::to_owned).collect(),
            };
            let out = Command::new(&argv[0])
                .args(&argv[1..])
                .current_dir(state)
                .env("ENVTRAIL_DB", state.join("envtrail.db"))
                .env("ENVTRAIL_CONFIG", &config)
                .env("ENVTRAIL_HMAC_KEY", "schedule-test-key-0123456789")
                .env("ENVTRAIL_OPS_WEBHOOK", receiver.url("ops"))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{command}: {stderr}");
        }
    };
    run_all();
    let page = std::fs::read_to_string(state.join("report.html")).unwrap();
    assert!(
        page.contains("<table id=\"matrix\">") && page.contains("coredns"),
        "the page shows the cluster"
    );
    let prom = std::fs::read_to_string(state.join("envtrail.prom")).unwrap();
    assert!(
        prom.contains("envtrail_snapshot_present{environment=\"prod\"} 1"),
        "{prom}"
    );
    let posted = receiver.take();
    assert_eq!(posted.len(), 1, "the first run posts");
    assert_eq!(posted[0].body["mode"], "changes");
    assert_eq!(posted[0].body["new"][0]["kind"], "stale_snapshot");

    run_all();
    assert!(
        receiver.take().is_empty(),
        "nothing changed: nothing posted"
    );
}
