//! The connection to the control plane: `http://` over TCP or `https://` over TLS (rustls on
//! ring; the public web roots plus `--control-plane-ca`), HTTP/1.1.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, header};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::link::ReqBody;

/// A byte stream to the control plane: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where the control plane is and how to reach it: `http://host:port[/prefix]` over TCP,
/// `https://…` over TLS (rustls on ring; the public web roots plus `--control-plane-ca`).
pub struct Endpoint {
    host: String,
    port: u16,
    prefix: String,
    pub(super) authority: String,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
}

impl Endpoint {
    /// Parse the control-plane URL and prepare TLS when it is `https`.
    pub fn new(url: &str, extra_ca: Option<&Path>) -> anyhow::Result<Self> {
        let uri: http::Uri = url.parse()?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => anyhow::bail!("control-plane must be an http:// or https:// URL"),
        };
        let host = uri
            .host()
            .ok_or_else(|| anyhow::anyhow!("control-plane URL has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_else(|| host.clone());
        let tls = if https {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Some(path) = extra_ca {
                use rustls::pki_types::pem::PemObject;
                let mut added = 0;
                for cert in rustls::pki_types::CertificateDer::pem_file_iter(path)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                {
                    let cert = cert.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    roots.add(cert)?;
                    added += 1;
                }
                if added == 0 {
                    anyhow::bail!("{}: no certificate found", path.display());
                }
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
            let name = rustls::pki_types::ServerName::try_from(host.clone())?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
        } else {
            if extra_ca.is_some() {
                anyhow::bail!("control-plane-ca needs an https:// control-plane URL");
            }
            None
        };
        Ok(Endpoint {
            host,
            port,
            prefix: uri.path().trim_end_matches('/').to_owned(),
            authority,
            tls,
        })
    }

    /// Open one HTTP/1.1 connection.
    pub(super) async fn connect(&self) -> Result<SendRequest<ReqBody>, String> {
        let tcp = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| "connection timed out".to_owned())?
        .map_err(|e| format!("cannot connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match &self.tls {
            None => Box::new(tcp),
            Some((connector, name)) => Box::new(
                tokio::time::timeout(Duration::from_secs(5), connector.connect(name.clone(), tcp))
                    .await
                    .map_err(|_| "TLS handshake timed out".to_owned())?
                    .map_err(|e| format!("TLS: {e}"))?,
            ),
        };
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "control-plane connection ended");
            }
        });
        Ok(send)
    }

    pub(super) fn request(
        &self,
        method: http::Method,
        path: &str,
        auth: &str,
    ) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.prefix))
            .header(header::HOST, &self.authority)
            .header(header::AUTHORIZATION, auth)
    }
}
