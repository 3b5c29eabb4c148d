//! A chat platform stand-in for the notify tests: a real HTTP server (hyper) on a free loopback
//! port that records every request (path, content type, JSON body, arrival time) and answers from
//! a script: 200 by default, or 429 with Retry-After, 500, a delay. Its URLs carry [`SECRET`], a
//! token that must never appear in envtrail's output.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response};
use serde_json::Value;

/// The secret-looking part of every receiver URL.
pub const SECRET: &str = "T000-B000-XXXXsecretXXXX";

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub content_type: String,
    pub body: Value,
    pub at: Instant,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    /// Answers to give, in order (status, Retry-After); 200 once empty, or `fail_always`.
    script: VecDeque<(u16, Option<&'static str>)>,
    fail_always: Option<u16>,
    /// Answer only after this long (a hung platform).
    delay: Option<std::time::Duration>,
}

/// A chat platform stand-in: records requests, answers from a script.
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    tokio::select! {
                        _ = &mut stopped => return,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let state = Arc::clone(&shared);
                            tokio::spawn(async move {
                                let service = hyper::service::service_fn(move |req| {
                                    let state = Arc::clone(&state);
                                    async move { Ok::<_, Infallible>(handle(req, &state).await) }
                                });
                                let io = hyper_util::rt::TokioIo::new(stream);
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(io, service)
                                    .await;
                            });
                        }
                    }
                }
            });
        });
        Self {
            addr,
            state,
            _stop: stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}/{SECRET}", self.addr)
    }

    pub fn script(&self, answers: &[(u16, Option<&'static str>)]) {
        self.state.lock().unwrap().script = answers.iter().copied().collect();
    }

    pub fn fail_always(&self, status: Option<u16>) {
        self.state.lock().unwrap().fail_always = status;
    }

    pub fn delay(&self, delay: Option<std::time::Duration>) {
        self.state.lock().unwrap().delay = delay;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut self.state.lock().unwrap().received)
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    state: &Mutex<State>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = req.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let delay = state.lock().unwrap().delay;
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let mut s = state.lock().unwrap();
    s.received.push(Received {
        path,
        content_type,
        body,
        at: Instant::now(),
    });
    let (status, retry_after) = match s.fail_always {
        Some(code) => (code, None),
        None => s.script.pop_front().unwrap_or((200, None)),
    };
    let mut response = Response::builder().status(status);
    if let Some(v) = retry_after {
        response = response.header("retry-after", v);
    }
    response.body(Full::new(Bytes::from_static(b"ok"))).unwrap()
}
