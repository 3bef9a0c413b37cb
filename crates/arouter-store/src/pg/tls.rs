//! TLS to PostgreSQL through rustls. The URL's `sslmode` decides: `require`, `verify-ca` and
//! `verify-full` encrypt and always verify the server's certificate and host name (stricter than
//! libpq's `require`, which checks nothing) against the Mozilla roots plus the PEM file named by
//! `sslrootcert`; `disable`, `allow` and `prefer` (tokio-postgres's default) connect in plain
//! text, as team mode always did.

use anyhow::{bail, Context, Result};
use arouter_core::query::decode_bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// Makes a connection's TLS session: `None` inside = plain text (sslmode is then `disable`).
#[derive(Clone)]
pub struct Connector(Option<tokio_rustls::TlsConnector>);

/// Parses a database URL into the driver's config and the TLS connector it asks for. Takes
/// libpq's `sslmode` values and `sslrootcert`, which the driver itself does not know.
pub fn parse(url: &str) -> Result<(tokio_postgres::Config, Connector)> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = "prefer".to_string();
    let mut root: Option<String> = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let value = || String::from_utf8_lossy(&decode_bytes(v.as_bytes(), false)).into_owned();
        match decode_bytes(k.as_bytes(), false).as_ref() {
            b"sslmode" => mode = value(),
            b"sslrootcert" => root = Some(value()),
            _ => rest.push(pair),
        }
    }
    let driver_url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let mut config: tokio_postgres::Config = driver_url.parse()?;
    let connector = match mode.as_str() {
        "disable" | "allow" | "prefer" => {
            config.ssl_mode(SslMode::Disable);
            Connector(None)
        }
        "require" | "verify-ca" | "verify-full" => {
            config.ssl_mode(SslMode::Require);
            Connector(Some(verifying(root.as_deref().map(Path::new))?))
        }
        other => {
            bail!("sslmode={other}: expected disable, prefer, require, verify-ca or verify-full")
        }
    };
    Ok((config, connector))
}

/// A connector that checks the server against the Mozilla roots and `extra_roots`.
fn verifying(extra_roots: Option<&Path>) -> Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_roots {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|c| c.collect())
            .with_context(|| format!("sslrootcert {}", path.display()))?;
        if certs.is_empty() {
            bail!("sslrootcert {}: no PEM certificate in it", path.display());
        }
        for cert in certs {
            roots
                .add(cert)
                .with_context(|| format!("sslrootcert {}", path.display()))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

impl<S> MakeTlsConnect<S> for Connector
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Tls<S>;
    type TlsConnect = Handshake;
    type Error = io::Error;

    fn make_tls_connect(&mut self, host: &str) -> io::Result<Handshake> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Handshake(self.0.clone(), name))
    }
}

/// One connection's handshake, for the server `name`.
pub struct Handshake(Option<tokio_rustls::TlsConnector>, ServerName<'static>);

impl<S> TlsConnect<S> for Handshake
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Tls<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Tls<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let Handshake(connector, name) = self;
        Box::pin(async move {
            // Unreachable with sslmode=disable; refused rather than sent in plain text.
            let connector = connector.ok_or_else(|| {
                io::Error::new(io::ErrorKind::Unsupported, "TLS is off (sslmode)")
            })?;
            Ok(Tls(connector.connect(name, stream).await?))
        })
    }
}

/// An encrypted connection to the server.
pub struct Tls<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Tls<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM runs without channel binding: `tls-server-end-point` needs the hash named by
        // the certificate's signature algorithm, which rustls does not expose.
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Tls<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Tls<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::{parse, Connector};

    impl Connector {
        fn encrypts(&self) -> bool {
            self.0.is_some()
        }
    }

    #[test]
    fn libpq_ssl_settings_are_read_and_kept_from_the_driver() {
        let (config, tls) =
            parse("postgres://u:p@db:5432/a?sslmode=prefer&application_name=x").expect("parses");
        assert!(!tls.encrypts());
        assert_eq!(config.get_application_name(), Some("x"));
        let (_, tls) = parse("postgres://u@db/a?sslmode=verify-full").expect("parses");
        assert!(tls.encrypts());
        let (_, tls) = parse("postgres://u@db/a").expect("parses");
        assert!(!tls.encrypts(), "plain text unless asked");
        let err = parse("postgres://u@db/a?sslmode=require&sslrootcert=%2Fno%2Fsuch.pem")
            .err()
            .expect("a missing root file is an error");
        assert!(format!("{err:#}").contains("/no/such.pem"), "{err:#}");
        let err = parse("postgres://u@db/a?sslmode=sometimes")
            .err()
            .expect("bad mode");
        assert!(err.to_string().contains("sslmode=sometimes"), "{err}");
    }
}
