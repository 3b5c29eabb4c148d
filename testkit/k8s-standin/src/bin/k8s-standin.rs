//! `k8s-standin`: serves synthetic clusters for the Kubernetes collection benchmark
//! (`scripts/bench-k8s`). Test tooling, never shipped.
//!
//! `k8s-standin --clusters 3 --deployments 5000 --pods 20000 --namespaces 60 --kubeconfig FILE`
//! starts one stand-in API server per cluster on loopback, writes a kubeconfig with contexts
//! `bench-0`, `bench-1`, … and serves until its standard input closes.

use std::io::Read;

use envtrail_k8s_standin::synthetic::{Fleet, fleet};
use envtrail_k8s_standin::{StandIn, kubeconfig_for};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_owned())
    };
    let number = |name: &str, default: usize| -> usize {
        value(name, &default.to_string())
            .parse()
            .unwrap_or_else(|_| panic!("{name} takes a number"))
    };
    let clusters = number("--clusters", 3);
    let deployments = number("--deployments", 5000);
    let pods = number("--pods", 20000);
    let namespaces = number("--namespaces", 60);
    let kubeconfig = value("--kubeconfig", "bench-kubeconfig.yaml");

    let mut servers = Vec::new();
    for c in 0..clusters {
        // Spread the totals over the clusters; the first ones take the remainder.
        let share = |total: usize| total / clusters + usize::from(c < total % clusters);
        let cluster = fleet(Fleet {
            cluster: c,
            namespaces: share(namespaces).max(1),
            deployments: share(deployments),
            pods: share(pods),
        });
        eprintln!(
            "cluster bench-{c}: {} deployments, {} pods, {} namespaces",
            cluster.count("Deployment"),
            cluster.count("Pod"),
            cluster.count("Namespace")
        );
        servers.push(StandIn::start(cluster));
    }
    let contexts: Vec<(String, String)> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("bench-{i}"), s.url()))
        .collect();
    let refs: Vec<(&str, String)> = contexts
        .iter()
        .map(|(n, u)| (n.as_str(), u.clone()))
        .collect();
    std::fs::write(&kubeconfig, kubeconfig_for(&refs)).expect("write the kubeconfig");
    println!("ready {kubeconfig}");
    // Serve until stdin closes (the benchmark script holds it open).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    for s in servers {
        let requests = s.requests().len();
        s.stop();
        eprintln!("served {requests} requests");
    }
}
