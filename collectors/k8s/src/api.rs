//! The HTTP side of the collector: every call the collector makes goes through [`ApiClient::list`],
//! which pages through a list (`limit`/`continue`), bounds the calls in flight (a semaphore shared by
//! every source), puts a timeout on each call, and retries 429s (after `Retry-After` when the server
//! sends one), 5xx answers, timeouts and connection errors with exponential backoff and jitter.
//!
//! Responses are read with `Client::send` rather than kube's typed `Api`, to see the status and the
//! `Retry-After` header of every answer, and so that no response body is ever logged or quoted in an
//! error: a body may hold Secret data. A decoding error names only the position in the body.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use http_body_util::BodyExt;
use kube::api::ListParams;
use kube::client::Body;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::CollectOptions;

/// Why one API call (after its retries) did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// 401 or 403: the credentials may not read this.
    #[error("forbidden ({code}): {message}")]
    Forbidden {
        /// 401 or 403.
        code: u16,
        /// The API server's message.
        message: String,
    },
    /// 410 Gone: a `continue` token expired.
    #[error("list expired (410 Gone): {0}")]
    Gone(String),
    /// Any other non-success status (429 and 5xx once retries are spent).
    #[error("HTTP {code}: {message}")]
    Status {
        /// The status code.
        code: u16,
        /// The API server's message.
        message: String,
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// No answer within the call's timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The cluster could not be reached.
    #[error("cannot reach the API server: {0}")]
    Transport(String),
    /// The answer was not the JSON expected (the message names only the position, never the body).
    #[error("unreadable answer: {0}")]
    Decode(String),
}

impl CallError {
    fn retryable(&self) -> bool {
        match self {
            Self::Status { code, .. } => *code == 429 || *code >= 500,
            Self::Timeout(_) | Self::Transport(_) => true,
            Self::Forbidden { .. } | Self::Gone(_) | Self::Decode(_) => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the cluster itself was not reached (as opposed to an answer that refused).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Timeout(_) | Self::Transport(_))
    }
}

#[derive(Deserialize)]
struct Page<K> {
    #[serde(default)]
    metadata: PageMeta,
    #[serde(default = "Vec::new")]
    items: Vec<K>,
}

#[derive(Default, Deserialize)]
struct PageMeta {
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    message: String,
}

/// A kube client with envtrail's limits, timeouts and retries.
pub(crate) struct ApiClient<'a> {
    client: kube::Client,
    options: &'a CollectOptions,
    objects_read: &'a AtomicU64,
}

impl<'a> ApiClient<'a> {
    pub(crate) fn new(
        client: kube::Client,
        options: &'a CollectOptions,
        objects_read: &'a AtomicU64,
    ) -> Self {
        Self {
            client,
            options,
            objects_read,
        }
    }

    /// Every item of a list, page by page, each turned into a `T` as soon as its page arrives (so a
    /// large list is never held whole). An expired `continue` token restarts the list once.
    pub(crate) async fn list<K, T>(
        &self,
        url_path: String,
        params: &ListParams,
        mut convert: impl FnMut(K) -> Option<T>,
    ) -> Result<Vec<T>, CallError>
    where
        K: DeserializeOwned,
    {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut restarted = false;
        loop {
            let mut lp = params.clone().limit(self.options.page_size);
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let request = kube::core::Request::new(&url_path)
                .list(&lp)
                .map_err(|e| CallError::Decode(format!("cannot build the request: {e}")))?;
            let uri = request.uri().clone();
            let page: Page<K> = match self.get(&uri).await {
                Ok(page) => page,
                Err(CallError::Gone(_)) if token.is_some() && !restarted => {
                    restarted = true;
                    token = None;
                    out.clear();
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.objects_read
                .fetch_add(page.items.len() as u64, Ordering::Relaxed);
            out.extend(page.items.into_iter().filter_map(&mut convert));
            match page.metadata.continue_token.filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// One GET, decoded, with the retry policy around it.
    async fn get<T: DeserializeOwned>(&self, uri: &http::Uri) -> Result<T, CallError> {
        let o = self.options;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(o.min_retry_delay)
            .with_max_delay(o.max_retry_delay)
            .with_max_times(o.retries)
            .with_jitter();
        let bytes = (|| self.get_once(uri))
            .retry(backoff)
            .when(CallError::retryable)
            .adjust(|err, delay| {
                // Spent retries stay spent; otherwise the server's Retry-After wins over backoff.
                delay.map(|d| err.retry_after().map_or(d, |r| r.min(o.max_retry_delay)))
            })
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            // serde_json's message may quote the offending value, which may be a secret: name the
            // position only.
            CallError::Decode(format!(
                "{:?} error at line {}, column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        })
    }

    async fn get_once(&self, uri: &http::Uri) -> Result<bytes::Bytes, CallError> {
        let _permit = self
            .options
            .requests
            .acquire()
            .await
            .map_err(|_| CallError::Transport("shut down".into()))?;
        let timeout = self.options.request_timeout;
        let call = async {
            let request = http::Request::get(uri.clone())
                .header(http::header::ACCEPT, "application/json")
                .body(Body::empty())
                .map_err(|e| CallError::Transport(e.to_string()))?;
            let response = self
                .client
                .send(request)
                .await
                .map_err(|e| CallError::Transport(e.to_string()))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| CallError::Transport(e.to_string()))?
                .to_bytes();
            if status.is_success() {
                return Ok(body);
            }
            let message = status_message(&body, status);
            let code = status.as_u16();
            Err(match code {
                401 | 403 => CallError::Forbidden { code, message },
                410 => CallError::Gone(message),
                _ => CallError::Status {
                    code,
                    message,
                    retry_after,
                },
            })
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| CallError::Timeout(timeout))?
    }
}

/// The `message` of a `Status` body, shortened; the status line when the body is not a Status.
fn status_message(body: &[u8], status: http::StatusCode) -> String {
    let message = serde_json::from_slice::<Status>(body)
        .map(|s| s.message)
        .unwrap_or_default();
    let message = if message.is_empty() {
        status.to_string()
    } else {
        message
    };
    let mut short: String = message.chars().take(300).collect();
    if short.len() < message.len() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_messages_come_from_the_status_body() {
        let body = br#"{"kind":"Status","message":"pods is forbidden: User \"x\" cannot list"}"#;
        assert_eq!(
            status_message(body, http::StatusCode::FORBIDDEN),
            "pods is forbidden: User \"x\" cannot list"
        );
        assert_eq!(
            status_message(b"<html>", http::StatusCode::BAD_GATEWAY),
            "502 Bad Gateway"
        );
        let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(400));
        assert_eq!(
            status_message(long.as_bytes(), http::StatusCode::CONFLICT)
                .chars()
                .count(),
            301
        );
    }

    #[test]
    fn only_transient_errors_are_retried() {
        let status = |code| CallError::Status {
            code,
            message: String::new(),
            retry_after: None,
        };
        assert!(status(429).retryable() && status(500).retryable() && status(503).retryable());
        assert!(!status(404).retryable());
        assert!(
            !CallError::Forbidden {
                code: 403,
                message: String::new()
            }
            .retryable()
        );
        assert!(CallError::Timeout(Duration::from_secs(1)).retryable());
    }
}
