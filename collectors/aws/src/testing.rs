//! A real AWS emulator for tests and the benchmark: `moto_server` (PyPI `moto[server]`, installed
//! by `scripts/test`) started on a free loopback port with `MOTO_LAMBDA_STUB_ECR=false` (so Lambda
//! image functions resolve to the digests of moto's own ECR), waited on until it answers, reset
//! with `POST /moto-api/reset`, and stopped by PID when dropped.
//!
//! The small HTTP helper here talks to moto's control API and to the IAM query API (for the role
//! Lambda functions need); everything else goes through the real SDK.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::{AccountConfig, Credentials};

/// The account id moto answers with.
pub const ACCOUNT: &str = "123456789012";

/// Why the emulator could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    /// `moto_server` is not installed or could not start.
    #[error("cannot start moto_server (install it with `pip install 'moto[server]'`)")]
    Start(#[source] std::io::Error),
    /// It did not answer in time.
    #[error("moto_server on port {port} did not answer within {waited:?}; its log: {log}")]
    Timeout {
        /// The port.
        port: u16,
        /// How long we waited.
        waited: Duration,
        /// Its log file.
        log: String,
    },
    /// A control or IAM request failed.
    #[error("moto request {what}: {why}")]
    Request {
        /// The request.
        what: String,
        /// What went wrong.
        why: String,
    },
}

/// A running `moto_server`, stopped when dropped.
pub struct Moto {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    log: PathBuf,
}

impl Moto {
    /// Starts one on a free loopback port and waits (up to 90 s: the first start after install
    /// compiles Python modules) until it answers.
    pub fn start() -> Result<Self, MotoError> {
        let dir = tempfile::tempdir().map_err(MotoError::Start)?;
        let log = dir.path().join("moto.log");
        let port = free_port().map_err(MotoError::Start)?;
        let log_file = std::fs::File::create(&log).map_err(MotoError::Start)?;
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_LAMBDA_STUB_ECR", "false")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(MotoError::Start)?)
            .stderr(log_file)
            .spawn()
            .map_err(MotoError::Start)?;
        let mut moto = Self {
            child,
            port,
            _dir: dir,
            log,
        };
        let started = Instant::now();
        let limit = Duration::from_secs(90);
        loop {
            if moto.request("GET", "/moto-api/", &[], b"").is_ok() {
                return Ok(moto);
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(MotoError::Start(std::io::Error::other(format!(
                    "moto_server exited with {status}: {}",
                    std::fs::read_to_string(&moto.log).unwrap_or_default()
                ))));
            }
            if started.elapsed() > limit {
                return Err(MotoError::Timeout {
                    port,
                    waited: limit,
                    log: std::fs::read_to_string(&moto.log).unwrap_or_default(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Forgets every resource (`POST /moto-api/reset`).
    pub fn reset(&self) -> Result<(), MotoError> {
        self.request("POST", "/moto-api/reset", &[], b"")
            .map(|_| ())
    }

    /// An account config pointing at this server with static test credentials, ECS and Lambda on.
    pub fn account(&self, regions: &[&str]) -> AccountConfig {
        AccountConfig {
            credentials: Credentials::Static {
                access_key_id: "testing".into(),
                secret_access_key: "testing".into(),
            },
            regions: regions.iter().map(|r| (*r).to_owned()).collect(),
            endpoint_url: Some(self.endpoint()),
            ecs: true,
            lambda: true,
            ..AccountConfig::default()
        }
    }

    /// Creates IAM role `name` (Lambda functions need one that exists) and returns its ARN.
    pub fn create_role(&self, name: &str) -> Result<String, MotoError> {
        let body = format!(
            "Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument=%7B%7D"
        );
        let auth = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, \
                    SignedHeaders=host, Signature=0";
        self.request(
            "POST",
            "/",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Authorization", auth),
            ],
            body.as_bytes(),
        )?;
        Ok(format!("arn:aws:iam::{ACCOUNT}:role/{name}"))
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<String, MotoError> {
        let err = |why: String| MotoError::Request {
            what: format!("{method} {path}"),
            why,
        };
        let mut stream =
            TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| err(e.to_string()))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| err(e.to_string()))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.port,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body))
            .map_err(|e| err(e.to_string()))?;
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .map_err(|e| err(e.to_string()))?;
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(0);
        if !(200..300).contains(&status) {
            return Err(err(format!("HTTP {status}: {response}")));
        }
        Ok(response)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
