//! A browser for the account pages, driven by hand: no automatic redirects, a cookie jar per
//! origin (`host:port`; names to values, paths ignored) as two servers on one machine are
//! two sites to it, forms posted as a browser posts them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::Value;

use super::Cp;

pub struct Browser {
    pub http: reqwest::Client,
    /// Where relative targets go.
    pub base: String,
    jars: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

fn origin_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .map(|u| {
            format!(
                "{}:{}",
                u.host_str().unwrap_or(""),
                u.port_or_known_default().unwrap_or(0)
            )
        })
        .unwrap_or_default()
}

impl Browser {
    pub fn new(cp: &Cp) -> Browser {
        Self::at(&cp.running.url())
    }

    /// A browser whose relative targets go to `base`.
    pub fn at(base: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
            jars: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn url(&self, target: &str) -> String {
        if target.starts_with("http") {
            target.to_owned()
        } else {
            format!("{}{target}", self.base)
        }
    }

    async fn send(&self, url: &str, req: reqwest::RequestBuilder) -> Page {
        let origin = origin_of(url);
        let cookies = {
            let jars = self.jars.lock().unwrap();
            jars.get(&origin)
                .map(|jar| {
                    jar.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default()
        };
        let req = if cookies.is_empty() {
            req
        } else {
            req.header("cookie", cookies)
        };
        let res = req.send().await.expect("answered");
        let headers = res.headers().clone();
        {
            let mut jars = self.jars.lock().unwrap();
            let jar = jars.entry(origin).or_default();
            for c in headers.get_all("set-cookie") {
                let c = c.to_str().unwrap();
                let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
                let (k, v) = pair.split_once('=').unwrap();
                if v.is_empty() || attrs.contains("Max-Age=0") {
                    jar.remove(k);
                } else {
                    jar.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        Page {
            status: res.status().as_u16(),
            location: headers
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
            headers,
            text: res.text().await.unwrap(),
        }
    }

    pub async fn get(&self, target: &str) -> Page {
        let url = self.url(target);
        self.send(&url, self.http.get(&url)).await
    }

    pub async fn post_form(&self, target: &str, form: &[(&str, &str)]) -> Page {
        let url = self.url(target);
        self.send(&url, self.http.post(&url).form(form)).await
    }

    pub async fn post_json(&self, target: &str, origin: &str, body: &Value) -> Page {
        let url = self.url(target);
        self.send(
            &url,
            self.http.post(&url).header("origin", origin).json(body),
        )
        .await
    }

    /// Drop the cookies whose names start with `name_prefix` (every origin).
    pub fn forget(&self, name_prefix: &str) {
        for jar in self.jars.lock().unwrap().values_mut() {
            jar.retain(|k, _| !k.starts_with(name_prefix));
        }
    }

    /// Whether a cookie whose name starts with `name_prefix` is held (any origin).
    pub fn has_cookie(&self, name_prefix: &str) -> bool {
        self.jars
            .lock()
            .unwrap()
            .values()
            .any(|jar| jar.keys().any(|k| k.starts_with(name_prefix)))
    }
}

/// The value of hidden input `name` of a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end]
        .replace("&amp;", "&")
        .replace("&#x3D;", "=")
}

/// Query parameter `name` of an absolute or relative URL, decoded.
pub fn param(url: &str, name: &str) -> Option<String> {
    let u = reqwest::Url::parse("http://127.0.0.1/")
        .unwrap()
        .join(url)
        .ok()?;
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
