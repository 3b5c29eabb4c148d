//! `envtrail evidence export|verify|keygen` and the chain links `--evidence` adds to `asof` and
//! `history`. The store builds the bundle, `envtrail-evidence` signs and checks it; this module
//! reads and writes the files. A private key is read, used and dropped: never printed or written
//! anywhere but the file `keygen` creates (mode 0600).

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use envtrail_evidence::{PublicKey, SigningKey};
use envtrail_model::output::ChainEvidence;
use envtrail_model::parse_time;
use envtrail_store::Store;

use crate::Outcome;
use crate::args::{Cli, EvidenceCommand};
use crate::commands::{fmt_time, open_existing, print};
use crate::render;
use crate::timearg::{env_name, time_or_now};

/// Runs one `evidence` subcommand.
pub fn run(cli: &Cli, command: &EvidenceCommand) -> Result<Outcome> {
    match command {
        EvidenceCommand::Export {
            env,
            from,
            to,
            component,
            key,
            out,
        } => export(
            cli,
            env,
            from,
            to.as_deref(),
            component.as_deref(),
            key,
            out,
        ),
        EvidenceCommand::Verify { bundle, key } => verify(cli, bundle, key.as_deref()),
        EvidenceCommand::Keygen { out } => keygen(out),
    }
}

/// The chain links of the snapshots with these ids, and the chain head.
pub fn chain(store: &Store, ids: &[i64]) -> Result<ChainEvidence> {
    Ok(ChainEvidence {
        links: store.chain_links(ids)?,
        chain_head: store.chain_head()?,
    })
}

/// Reads a public key file (PEM).
pub(crate) fn read_public_key(path: &Path) -> Result<PublicKey> {
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("reading key {}", path.display()))?;
    Ok(PublicKey::from_pem(&pem, path)?)
}

/// Reads a private key file; a cosign key's password comes from `COSIGN_PASSWORD`.
pub(crate) fn read_signing_key(path: &Path) -> Result<SigningKey> {
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("reading key {}", path.display()))?;
    // cosign's own variable for its key's password.
    let password = std::env::var("COSIGN_PASSWORD").ok();
    Ok(SigningKey::from_file_text(
        &pem,
        path,
        password.as_deref().map(str::as_bytes),
    )?)
}

fn export(
    cli: &Cli,
    env: &str,
    from: &str,
    to: Option<&str>,
    component: Option<&str>,
    key: &Path,
    out: &Path,
) -> Result<Outcome> {
    let env = env_name(env)?;
    let from = parse_time(from).context("argument --from")?;
    let to = time_or_now(to, "--to")?;
    if to < from {
        bail!(
            "argument --to: {} is before --from {}",
            fmt_time(&to),
            fmt_time(&from)
        );
    }
    let component = component
        .map(|c| {
            c.parse()
                .with_context(|| format!("argument --component {c:?}"))
        })
        .transpose()?;
    // The key first: a bad key should not cost a long export.
    let key = read_signing_key(key)?;
    let store = open_existing(&cli.db)?;
    let (bundle, bodies) = store
        .evidence_parts(&env, from, to, component.as_ref())?
        .ok_or_else(|| {
            anyhow!(
                "environment {env}: no snapshot between {} and {}",
                fmt_time(&from),
                fmt_time(&to)
            )
        })?;
    if let Some(c) = &component
        && !bundle.chain.iter().any(|e| {
            e.members
                .as_ref()
                .is_some_and(|m| m.components.contains_key(c.as_str()))
        })
    {
        bail!("environment {env}: component {c} ran in no snapshot of the period");
    }
    let bytes = envtrail_evidence::seal_parts(&bundle, &bodies, &key);
    std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    let snapshots = bundle.chain.iter().filter(|e| e.members.is_some()).count();
    eprintln!(
        "wrote {}: {snapshots} snapshots of {env}, {} chain entries to head {}, signed by {}",
        out.display(),
        bundle.chain.len(),
        bundle.chain_head,
        key.public_key().key_id()
    );
    Ok(Outcome::Success)
}

fn verify(cli: &Cli, bundle: &Path, key: Option<&Path>) -> Result<Outcome> {
    let pinned = key.map(read_public_key).transpose()?;
    let bytes =
        std::fs::read(bundle).with_context(|| format!("reading bundle {}", bundle.display()))?;
    let check = envtrail_evidence::open(&bytes, pinned.as_ref());
    print(&render::evidence_check(&check, cli.format)?)?;
    if !check.ok {
        let first = check
            .problems
            .first()
            .map(String::as_str)
            .unwrap_or("unknown problem");
        bail!("bundle {} failed verification: {first}", bundle.display());
    }
    Ok(Outcome::Success)
}

fn keygen(out: &Path) -> Result<Outcome> {
    let public_path = out.with_file_name(format!(
        "{}.pub",
        out.file_name()
            .ok_or_else(|| anyhow!("argument --out: {} is not a file name", out.display()))?
            .to_string_lossy()
    ));
    let key = SigningKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(out).with_context(|| {
        format!(
            "creating {} (an existing key is never overwritten)",
            out.display()
        )
    })?;
    file.write_all(key.to_pem()?.as_bytes())
        .with_context(|| format!("writing {}", out.display()))?;
    let public = key.public_key();
    std::fs::write(&public_path, public.to_pem())
        .with_context(|| format!("writing {}", public_path.display()))?;
    eprintln!(
        "wrote private key {} (keep it secret) and public key {}",
        out.display(),
        public_path.display()
    );
    print(&format!("key id {}", public.key_id()))?;
    Ok(Outcome::Success)
}
