//! Digests out of image strings: the declared digest of a `spec.containers[].image` that pins one,
//! and the running digest in a container status's `imageID`.
//!
//! Container runtimes spell `imageID` in several ways, and all of them are seen in real clusters:
//! dockershim's `docker-pullable://repo@sha256:…`, containerd's and cri-o's `repo@sha256:…`, a bare
//! `sha256:…` for images with no repository digest (built or side-loaded on the node: then it is the
//! image's config digest, the only identity there is), and an empty string while a container waits
//! for its image. Whether the digest is an index or a platform manifest is not visible here: the
//! diff relates the two through the artifacts' `index_digest`.

use envtrail_model::Digest;

/// The digest a running container reports in `status.containerStatuses[].imageID`, if any.
///
/// Returns `None` for an empty `imageID` (a waiting container) or one that holds no well-formed
/// digest.
pub fn running_digest(image_id: &str) -> Option<Digest> {
    let id = image_id.trim();
    if id.is_empty() {
        return None;
    }
    // `docker-pullable://…`, `docker://…`, or any other runtime scheme.
    let id = id.split_once("://").map_or(id, |(_, rest)| rest);
    // `repo@sha256:…` or a bare `sha256:…`.
    let digest = id.rsplit_once('@').map_or(id, |(_, digest)| digest);
    digest.parse().ok()
}

/// The digest an image reference pins (`repo@sha256:…` or `repo:tag@sha256:…`), if it pins one.
pub fn declared_digest(image: &str) -> Option<Digest> {
    image
        .rsplit_once('@')
        .and_then(|(_, digest)| digest.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "a2d4ab4b19f1d2f8d8b8b1b8c5f4f0f8b2a7d6c5e4f3a2b1c0d9e8f7a6b5c4d3";

    fn d() -> Digest {
        format!("sha256:{HEX}").parse().unwrap()
    }

    #[test]
    fn every_runtime_spelling_gives_the_digest() {
        for id in [
            format!("docker-pullable://busybox@sha256:{HEX}"),
            format!("docker-pullable://registry.example.com:5000/team/api@sha256:{HEX}"),
            format!("docker.io/library/alpine@sha256:{HEX}"),
            format!("sha256:{HEX}"),
            format!("docker://sha256:{HEX}"),
            format!("  docker.io/istio/base@sha256:{HEX}\n"),
        ] {
            assert_eq!(running_digest(&id), Some(d()), "{id}");
        }
    }

    #[test]
    fn waiting_or_malformed_image_ids_give_nothing() {
        for id in [
            "",
            "   ",
            "docker-pullable://busybox:latest",
            "sha256:abc",
            "nginx@md5:0000",
        ] {
            assert_eq!(running_digest(id), None, "{id:?}");
        }
    }

    #[test]
    fn declared_digest_only_when_pinned() {
        assert_eq!(
            declared_digest(&format!("quay.io/kubevirt/virt@sha256:{HEX}")),
            Some(d())
        );
        assert_eq!(
            declared_digest(&format!("nginx:1.27@sha256:{HEX}")),
            Some(d())
        );
        assert_eq!(declared_digest("nginx:1.27"), None);
        assert_eq!(declared_digest("registry:5000/nginx"), None);
    }

    #[test]
    fn real_fixture_image_ids_parse() {
        // From shared/fixtures/kubernetes: pod-init-container-docker-pullable.json,
        // podlist-job-alpine-containerd.json and podlist-kind-v1.36-kube-system.json (the last two).
        let real = [
            "docker-pullable://busybox@sha256:6915be4043561d64e0ab0f8f098dc2ac48e077fe23f488ac24b665166898115a",
            "docker.io/library/alpine@sha256:a2d49ea686c2adfe3c992e47dc3b5e7fa6e6b5055609400dc2acaeb241c829f4",
            "docker.io/library/import-2026-06-15@sha256:28c02b4c439ec9b88633b69a41255c18db24b2f072d576205ab9e5581e4287aa",
            "sha256:38667dd9be96c17227adde456e33ad701bdbdc5c6db0272a1d33a929bd8e62d6",
        ];
        for id in real {
            let digest = running_digest(id).unwrap();
            assert!(id.ends_with(digest.hex()), "{id}");
        }
    }
}
