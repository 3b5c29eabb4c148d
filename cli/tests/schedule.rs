//! The files that run envtrail on a schedule (deploy/, .github/workflows/) are checked by the
//! real tools where they exist here: `kubectl apply --dry-run=client` against the Kubernetes
//! stand-in (kubectl needs API discovery even for a client dry run), `systemd-analyze verify`,
//! a YAML parser for the workflow; and by what they must promise: a read-only ClusterRole, a
//! static image from scratch with a numeric non-root user, one container per step in the CronJob
//! (the image has no shell), the store on a PersistentVolume, the gate on `--fail-on high`. The
//! envtrail.toml inside the ConfigMap is parsed by envtrail's own config loader.

mod support;

use std::path::PathBuf;
use std::process::Command;

use clap::Parser;
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
    // The image has no shell: each step is a container of its own, the init containers run in
    // order and each must exit 0 before the next; every step is a valid envtrail command line.
    let steps: Vec<&Value> = pod["initContainers"]
        .as_array()
        .expect("initContainers")
        .iter()
        .chain(pod["containers"].as_array().unwrap())
        .collect();
    let argv: Vec<Vec<&str>> = steps
        .iter()
        .map(|c| {
            c["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        argv,
        [
            vec!["collect"],
            vec!["report", "--out", "/data/report.html"],
            vec!["metrics", "--out", "/data/envtrail.prom"],
            vec!["notify", "--only-changes"],
        ]
    );
    for (step, args) in steps.iter().zip(&argv) {
        let name = &step["name"];
        assert!(
            step.get("command").is_none(),
            "{name}: the image's ENTRYPOINT runs, there is no shell to run instead"
        );
        assert_eq!(step["image"], steps[0]["image"], "{name}: one image");
        envtrail::args::Cli::try_parse_from(std::iter::once(&"envtrail").chain(args))
            .unwrap_or_else(|e| panic!("{name}: {args:?}: {e}"));
        assert_eq!(
            step["securityContext"]["allowPrivilegeEscalation"], false,
            "{name}"
        );
        assert_eq!(
            step["securityContext"]["readOnlyRootFilesystem"], true,
            "{name}"
        );
        assert!(
            step["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["name"] == "store" && m["mountPath"] == "/data"),
            "{name}: the store on /data"
        );
    }
    // Secrets only from a Secret, never inline, and each only where it is needed.
    let secret_vars = |step: &Value| -> Vec<String> {
        let env = step["env"].as_array().unwrap();
        for e in env {
            let name = e["name"].as_str().unwrap();
            if name.ends_with("_KEY") || name.ends_with("_WEBHOOK") {
                assert!(
                    e.get("value").is_none() && e["valueFrom"]["secretKeyRef"].is_object(),
                    "{name} inline"
                );
            }
        }
        env.iter()
            .filter(|e| e.get("valueFrom").is_some())
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let secrets: Vec<Vec<String>> = steps.iter().copied().map(secret_vars).collect();
    assert_eq!(
        secrets,
        [
            vec!["ENVTRAIL_HMAC_KEY".to_owned()],
            vec![],
            vec![],
            vec!["ENVTRAIL_SLACK_WEBHOOK".to_owned()],
        ]
    );

    // The config inside the ConfigMap is a valid envtrail.toml with a notify target.
    let cm = find("ConfigMap");
    let toml = cm["data"]["envtrail.toml"].as_str().unwrap();
    let config = envtrail::config::Config::parse(std::path::Path::new("configmap"), toml)
        .unwrap_or_else(|e| panic!("the ConfigMap's envtrail.toml: {e}"));
    assert_eq!(config.notify.len(), 1);
    assert!(!config.path.is_empty());
    assert_eq!(
        config.fail_on, None,
        "a fail_on makes the report step exit 2 and stops the job before notify"
    );
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

/// The instructions of a Dockerfile, continuation lines joined: (INSTRUCTION, the rest).
fn dockerfile_instructions(text: &str) -> Vec<(String, String)> {
    text.replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (op, rest) = l.split_once(' ').unwrap_or((l, ""));
            (op.to_ascii_uppercase(), rest.trim().to_owned())
        })
        .collect()
}

/// No container engine runs here, so the image is checked by what its Dockerfile says
/// (`scripts/build-static` builds and runs the same binary in an empty root; docs/schedule.md
/// records its output): a Rust build stage producing the static musl binary through that script,
/// a final stage `FROM scratch` with no RUN (it has no shell), the binary, the CA bundle and
/// `SSL_CERT_FILE` pointing at it, a numeric non-root USER that is the CronJob's `runAsUser`, the
/// store on a volume, an exec-form ENTRYPOINT.
#[test]
fn the_dockerfile_builds_a_static_binary_onto_scratch_as_a_non_root_user() {
    let text = std::fs::read_to_string(deploy("deploy/Dockerfile")).unwrap();
    let instructions = dockerfile_instructions(&text);
    let known = [
        "FROM",
        "WORKDIR",
        "COPY",
        "RUN",
        "USER",
        "ENV",
        "VOLUME",
        "ENTRYPOINT",
        "CMD",
    ];
    for (op, _) in &instructions {
        assert!(known.contains(&op.as_str()), "unexpected instruction {op}");
    }
    let froms: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, (o, _))| o == "FROM")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(froms.len(), 2, "a build stage and the image");
    let build_from = &instructions[froms[0]].1;
    assert!(
        build_from.starts_with("rust:") && build_from.ends_with(" AS build"),
        "{build_from}"
    );
    let build = &instructions[froms[0]..froms[1]];
    let image = &instructions[froms[1]..];
    assert_eq!(
        image[0].1, "scratch",
        "the image is the binary and its files only"
    );

    // The build stage: the static musl build of scripts/build-static, copied to /out.
    let runs: Vec<&str> = build
        .iter()
        .filter(|(o, _)| o == "RUN")
        .map(|(_, r)| r.as_str())
        .collect();
    assert!(
        runs.iter()
            .any(|r| r.contains("rustup target add x86_64-unknown-linux-musl"))
    );
    assert!(runs.iter().any(|r| r.contains("musl-tools")));
    assert!(
        runs.iter()
            .any(|r| r
                .contains("scripts/build-static --build-only --out /out/usr/local/bin/envtrail")),
        "{runs:?}"
    );
    assert!(
        runs.iter().any(|r| r.contains(
            "cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt"
        )),
        "the CA bundle rustls reads"
    );
    let script_path = deploy("scripts/build-static");
    let script = std::fs::read_to_string(&script_path).unwrap();
    for needed in [
        "target=x86_64-unknown-linux-musl",
        "CC_x86_64_unknown_linux_musl=musl-gcc",
        "cargo build --release --locked -p envtrail --target \"$target\"",
        "CARGO_PROFILE_RELEASE_STRIP=symbols",
        "-i openssl-sys",
        "--userspec=\"$uid:$uid\"",
    ] {
        assert!(script.contains(needed), "scripts/build-static: {needed}");
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&script_path)
            .unwrap()
            .permissions()
            .mode();
        assert!(mode & 0o111 != 0, "scripts/build-static is executable");
    }
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script_path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "scripts/build-static: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    // The image: files copied from the build stage only, nothing run (no shell to run it).
    assert!(
        !image.iter().any(|(o, _)| o == "RUN"),
        "a RUN in the final stage needs a shell scratch does not have"
    );
    let copies: Vec<&str> = image
        .iter()
        .filter(|(o, _)| o == "COPY")
        .map(|(_, r)| r.as_str())
        .collect();
    assert!(
        copies.iter().all(|c| c.starts_with("--from=build ")),
        "{copies:?}"
    );
    // /out holds usr/local/bin/envtrail (the --out above), etc/ with the CA bundle and tmp/;
    // copied whole, so tmp keeps the sticky, world-writable mode it gets here.
    assert!(copies.contains(&"--from=build /out/ /"), "{copies:?}");
    assert!(
        runs.iter().any(|r| r.contains("chmod 1777 /out/tmp")),
        "{runs:?}"
    );
    let env: Vec<&str> = image
        .iter()
        .filter(|(o, _)| o == "ENV")
        .flat_map(|(_, r)| r.split_whitespace())
        .collect();
    assert!(
        env.contains(&"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"),
        "{env:?}"
    );
    assert!(env.contains(&"ENVTRAIL_DB=/data/envtrail.db"), "{env:?}");

    // A numeric non-root user (Kubernetes checks runAsNonRoot against a number; scratch has no
    // user names), the pod's own, owning the store's folder, which is a volume.
    let user = &image
        .iter()
        .rev()
        .find(|(o, _)| o == "USER")
        .expect("a USER")
        .1;
    let (uid, gid) = user.split_once(':').expect("USER uid:gid");
    let uid: u32 = uid.parse().expect("a numeric uid");
    let gid: u32 = gid.parse().expect("a numeric gid");
    assert!(uid != 0 && gid != 0, "non-root: {user}");
    let cron = all_manifests()
        .into_iter()
        .find(|d| d["kind"] == "CronJob")
        .unwrap();
    let pod_security = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["securityContext"];
    assert_eq!(
        pod_security["runAsUser"], uid,
        "the pod runs as the image's user"
    );
    assert_eq!(pod_security["runAsGroup"], gid);
    assert!(
        copies.contains(&format!("--from=build --chown={uid}:{gid} /out-data/ /").as_str()),
        "{copies:?}"
    );
    assert!(image.contains(&("VOLUME".into(), "[\"/data\"]".into())));
    assert!(image.contains(&("WORKDIR".into(), "/data".into())));
    let entry = &image.iter().find(|(o, _)| o == "ENTRYPOINT").unwrap().1;
    let argv: Vec<String> = serde_json::from_str(entry).expect("exec form");
    assert_eq!(argv, ["/usr/local/bin/envtrail"]);

    // The build context leaves out build output (gigabytes) and stores.
    let ignore = std::fs::read_to_string(deploy(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l.trim() == "target"), "{ignore}");
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
