//! `envtrail notify`: posts a short drift summary to each configured chat target (Slack, Teams,
//! Google Chat, Mattermost, a generic JSON webhook). Each target filters the report its own way;
//! with `--only-changes` it is told only what is new or resolved since its last successful post
//! (state kept in the store), and nothing at all when nothing changed. Delivery retries 429, 5xx
//! and network errors with exponential backoff, honouring `Retry-After`; a target whose delivery
//! finally fails makes the command fail, and its state is not advanced, so the next run posts the
//! same changes again. The webhook URL is a credential: it is read from an environment variable or
//! a file when posting and never printed, logged or put in an error.

pub mod payload;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use backon::{BackoffBuilder, ExponentialBuilder};
use envtrail_model::output::{NotifyMode, Report};
use envtrail_model::{Finding, Timestamp};
use envtrail_store::{NotifyState, Store};

use crate::config::notify::{NotifyTarget, UrlSource};

/// What identifies a finding across runs: its kind and everything it is about, not its message
/// or severity (a message can carry an age; a severity can be re-configured).
pub fn finding_key(f: &Finding) -> String {
    let digests: Vec<&str> = f.digests.iter().map(|d| d.as_str()).collect();
    format!(
        "{}|{}|{}|{}|{}|{}",
        f.kind,
        f.component.as_ref().map(|c| c.as_str()).unwrap_or(""),
        f.environment,
        f.related_environment
            .as_ref()
            .map(|e| e.as_str())
            .unwrap_or(""),
        digests.join(","),
        f.keys.join(",")
    )
}

/// What happened to one target.
#[derive(Debug)]
pub enum Delivery {
    /// Posted.
    Posted {
        /// How many attempts it took.
        attempts: usize,
    },
    /// `--only-changes` and nothing changed: nothing posted.
    Unchanged,
    /// `--dry-run`: the payload, not sent.
    DryRun(serde_json::Value),
}

/// Options of one run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Post only new and resolved findings.
    pub only_changes: bool,
    /// Build the payloads, post nothing, change no state.
    pub dry_run: bool,
}

/// Notifies one target about `report`; the store keeps its state.
pub async fn notify_target(
    store: &mut Store,
    report: &Report,
    target: &NotifyTarget,
    options: Options,
    now: Timestamp,
) -> Result<Delivery> {
    let current: Vec<&Finding> = report.findings.iter().filter(|f| target.wants(f)).collect();
    let previous = store.notify_state(&target.name)?;
    let resolved_owned: Vec<Finding>;
    let (mode, new, resolved): (NotifyMode, Vec<&Finding>, Vec<&Finding>) = if options.only_changes
    {
        let before: Vec<Finding> = previous.map(|p| p.findings).unwrap_or_default();
        let before_keys: BTreeSet<String> = before.iter().map(finding_key).collect();
        let now_keys: BTreeSet<String> = current.iter().map(|f| finding_key(f)).collect();
        let new: Vec<&Finding> = current
            .iter()
            .copied()
            .filter(|f| !before_keys.contains(&finding_key(f)))
            .collect();
        resolved_owned = before
            .into_iter()
            .filter(|f| !now_keys.contains(&finding_key(f)))
            .collect();
        if new.is_empty() && resolved_owned.is_empty() {
            return Ok(Delivery::Unchanged);
        }
        (NotifyMode::Changes, new, resolved_owned.iter().collect())
    } else {
        (NotifyMode::Full, Vec::new(), Vec::new())
    };
    let message = payload::Message {
        target: &target.name,
        at: report.at,
        path: &report.path,
        mode,
        current: current.clone(),
        new,
        resolved,
        max_findings: target.max_findings,
        report_url: target.report_url.as_deref(),
    };
    finish(store, report, target, options, now, &current, &message).await
}

async fn finish(
    store: &mut Store,
    report: &Report,
    target: &NotifyTarget,
    options: Options,
    now: Timestamp,
    current: &[&Finding],
    message: &payload::Message<'_>,
) -> Result<Delivery> {
    let body = payload::build(target.platform, message);
    if options.dry_run {
        return Ok(Delivery::DryRun(body));
    }
    let url = read_url(target)?;
    let attempts = post(target, &url, &body).await?;
    store
        .set_notify_state(
            &target.name,
            &NotifyState {
                posted_at: now,
                report_at: report.at,
                findings: current.iter().map(|f| (*f).clone()).collect(),
            },
        )
        .with_context(|| format!("target {}: posted, but recording it", target.name))?;
    Ok(Delivery::Posted { attempts })
}

/// The webhook URL. Errors name the variable or file, never the value.
fn read_url(target: &NotifyTarget) -> Result<String> {
    let url = match &target.url {
        UrlSource::Env(var) => std::env::var(var).map_err(|_| {
            anyhow!(
                "target {}: environment variable {var} (url_env) is not set or not UTF-8",
                target.name
            )
        })?,
        UrlSource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| {
                anyhow!(
                    "target {}: cannot read the webhook URL file {} (url_file): {}",
                    target.name,
                    path.display(),
                    e.kind()
                )
            })?
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned(),
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        bail!(
            "target {}: the webhook URL (from {}) is not an http(s) URL",
            target.name,
            match &target.url {
                UrlSource::Env(v) => format!("environment variable {v}"),
                UrlSource::File(p) => format!("file {}", p.display()),
            }
        );
    }
    Ok(url)
}

/// Why one attempt failed, without the URL.
enum Attempt {
    /// Worth retrying, after at least this long (a 429's Retry-After).
    Retry(String, Option<Duration>),
    /// Not worth retrying (a 4xx other than 408/429).
    Fatal(String),
}

/// Parses `Retry-After`: delay-seconds or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The longest wait envtrail accepts from a `Retry-After` before giving up on a run.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

async fn attempt(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> Result<(), Attempt> {
    let response = client
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| Attempt::Retry(describe(e), None))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let wait = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(retry_after);
    let what = format!("HTTP {status}");
    if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
        Err(Attempt::Retry(what, wait))
    } else {
        Err(Attempt::Fatal(what))
    }
}

/// What went wrong with a request, without its URL (reqwest's messages carry it, and the URL is a
/// credential): the kind of failure, then the causes' messages.
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "no answer before the timeout"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut text = format!("{kind}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Posts `body`, retrying; returns the number of attempts.
async fn post(target: &NotifyTarget, url: &str, body: &serde_json::Value) -> Result<usize> {
    let client = reqwest::Client::builder()
        .timeout(target.timeout)
        .user_agent(concat!("envtrail/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")?;
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(target.retry_delay)
        .with_max_delay(Duration::from_secs(60))
        .with_max_times(target.retries)
        .build();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match attempt(&client, url, body).await {
            Ok(()) => return Ok(attempts),
            Err(Attempt::Fatal(why)) => bail!(
                "target {} ({}): delivery refused: {why} (not retried)",
                target.name,
                target.platform.as_str()
            ),
            Err(Attempt::Retry(why, wait)) => {
                let Some(backoff) = delays.next() else {
                    bail!(
                        "target {} ({}): delivery failed after {attempts} attempts: {why}",
                        target.name,
                        target.platform.as_str()
                    );
                };
                if wait.is_some_and(|w| w > MAX_RETRY_AFTER) {
                    bail!(
                        "target {} ({}): {why} with Retry-After longer than {}s: giving up this run",
                        target.name,
                        target.platform.as_str(),
                        MAX_RETRY_AFTER.as_secs()
                    );
                }
                let delay = wait.map_or(backoff, |w| w.max(backoff));
                eprintln!(
                    "notify {}: attempt {attempts} failed ({why}); retrying in {:.1}s",
                    target.name,
                    delay.as_secs_f64()
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// `envtrail notify`.
pub fn run(cli: &crate::args::Cli, args: &crate::args::NotifyArgs) -> Result<crate::Outcome> {
    let config = crate::config::Config::load(cli.config.as_deref())?;
    if config.notify.is_empty() {
        bail!("no [[notify]] target in the config");
    }
    for name in &args.targets {
        if !config.notify.iter().any(|t| &t.name == name) {
            let known: Vec<&str> = config.notify.iter().map(|t| t.name.as_str()).collect();
            bail!(
                "argument --target: no target named {name:?} (targets: {})",
                known.join(", ")
            );
        }
    }
    let path = crate::commands::promotion_path(args.path.as_deref(), &config)?;
    let at = crate::timearg::time_or_now(args.at.as_deref(), "--at")?;
    let mut store = crate::commands::open_existing(&cli.db)?;
    let report = crate::commands::build_report(&store, &path, at, &config.policy)?;
    let options = Options {
        only_changes: args.only_changes,
        dry_run: args.dry_run,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut failed: Vec<String> = Vec::new();
    let mut dry = Vec::new();
    for target in config
        .notify
        .iter()
        .filter(|t| args.targets.is_empty() || args.targets.contains(&t.name))
    {
        let now = chrono::Utc::now();
        match runtime.block_on(notify_target(&mut store, &report, target, options, now)) {
            Ok(Delivery::Posted { attempts }) => eprintln!(
                "notify {}: posted to {}{}",
                target.name,
                target.platform.as_str(),
                if attempts > 1 {
                    format!(" (after {attempts} attempts)")
                } else {
                    String::new()
                }
            ),
            Ok(Delivery::Unchanged) => {
                eprintln!("notify {}: nothing changed, nothing posted", target.name)
            }
            Ok(Delivery::DryRun(body)) => dry.push(serde_json::json!({
                "target": target.name,
                "kind": target.platform.as_str(),
                "payload": body,
            })),
            Err(err) => {
                eprintln!("error: {err:#}");
                if let Some(hint) = crate::commands::hint_for(&err) {
                    eprintln!("hint: {hint}");
                }
                failed.push(target.name.clone());
            }
        }
    }
    if args.dry_run {
        println!("{}", serde_json::to_string_pretty(&dry)?);
    }
    if !failed.is_empty() {
        bail!(
            "notify: delivery failed for {} (their state is unchanged: the next run posts again)",
            failed.join(", ")
        );
    }
    Ok(crate::Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a past date: no wait"
        );
        assert_eq!(retry_after("soon"), None);
    }
}
