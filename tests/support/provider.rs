//! A loopback stand-in for an external service's API (a mail or SMS provider, the captcha
//! verifier): records every request (method, path, headers, body) and answers from a script
//! of statuses (the last one repeats) or a function of the request, with `Retry-After: 1` on
//! a 429.

use std::sync::{Arc, Mutex};

use http_body_util::BodyExt;

/// One request the stand-in received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A form field of an `application/x-www-form-urlencoded` body.
    pub fn form(&self, name: &str) -> Option<String> {
        url_decode_pairs(&self.body)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

fn url_decode_pairs(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A running stand-in.
pub struct StandIn {
    pub base: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

/// How a stand-in answers the `n`th request (1-based): status and body.
type Answer = dyn Fn(usize, &Seen) -> (u16, String) + Send + Sync;

impl StandIn {
    /// Answer with `script` (statuses in order; the last repeats).
    pub async fn start(script: &[u16]) -> StandIn {
        let script = script.to_vec();
        Self::answering(move |n, _| {
            (
                script[(n - 1).min(script.len() - 1)],
                "{\"message\":\"recorded\"}".to_owned(),
            )
        })
        .await
    }

    /// Answer each request as `answer` says (a service with logic of its own, such as a
    /// captcha verifier).
    pub async fn answering(
        answer: impl Fn(usize, &Seen) -> (u16, String) + Send + Sync + 'static,
    ) -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        let answer: Arc<Answer> = Arc::new(answer);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (log, answer) = (log.clone(), answer.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let (log, answer) = (log.clone(), answer.clone());
                            async move {
                                let method = req.method().to_string();
                                let path = req.uri().to_string();
                                let headers = req
                                    .headers()
                                    .iter()
                                    .map(|(k, v)| {
                                        (k.to_string(), v.to_str().unwrap_or("").to_owned())
                                    })
                                    .collect();
                                let body = req.into_body().collect().await.unwrap().to_bytes();
                                let seen = Seen {
                                    method,
                                    path,
                                    headers,
                                    body: String::from_utf8_lossy(&body).into_owned(),
                                };
                                let n = {
                                    let mut l = log.lock().unwrap();
                                    l.push(seen.clone());
                                    l.len()
                                };
                                let (status, text) = answer(n, &seen);
                                let mut res = hyper::Response::builder()
                                    .status(status)
                                    .header("content-type", "application/json");
                                if status == 429 {
                                    res = res.header("retry-after", "1");
                                }
                                Ok::<_, std::convert::Infallible>(
                                    res.body(http_body_util::Full::new(bytes::Bytes::from(text)))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        StandIn { base, seen }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Wait (up to `secs`) for `n` requests.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Seen> {
        for _ in 0..secs * 50 {
            let r = self.requests();
            if r.len() >= n {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!(
            "the stand-in got {} requests, wanted {n}",
            self.requests().len()
        );
    }
}
