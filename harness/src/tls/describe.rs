//! A failed handshake in words a reader can act on: which certificate problem ("not valid
//! for name 127.0.0.2", "unknown issuer", "expired"), which alert the server sent, or that
//! the server does not speak TLS at all. These go to a run's failure samples.

use std::io;

use rustls::{AlertDescription, CertificateError};

/// The TLS error inside `error`, described; `None` when it is not a TLS error.
pub fn describe_io(error: &io::Error) -> Option<String> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .map(describe_tls)
}

/// `error` described for a failure sample.
pub fn describe_tls(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(e) => describe_certificate(e),
        rustls::Error::AlertReceived(alert) => describe_alert(*alert),
        rustls::Error::NoCertificatesPresented => "the server presented no certificate".into(),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            format!("TLS protocol error: {error} (does the server speak TLS on this port?)")
        }
        other => format!("TLS error: {other}"),
    }
}

fn describe_certificate(error: &CertificateError) -> String {
    match error {
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            let valid = if presented.is_empty() {
                "it names no host".to_string()
            } else {
                format!("it is valid for {}", presented.join(", "))
            };
            format!(
                "certificate not valid for name {} ({valid})",
                expected.to_str()
            )
        }
        CertificateError::NotValidForName => "certificate not valid for the host name".into(),
        CertificateError::UnknownIssuer => {
            "unknown issuer: the certificate does not chain to a trusted root (set `ca_file` to the CA that issued it)".into()
        }
        CertificateError::Expired => "certificate expired".into(),
        CertificateError::ExpiredContext { time, not_after } => format!(
            "certificate expired {} s ago",
            time.as_secs().saturating_sub(not_after.as_secs())
        ),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "certificate not valid yet (is the clock right?)".into()
        }
        CertificateError::Revoked => "certificate revoked".into(),
        CertificateError::BadSignature => "certificate has a bad signature".into(),
        CertificateError::BadEncoding => "certificate cannot be parsed".into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "certificate is not for TLS servers (extended key usage)".into()
        }
        other => format!("invalid certificate: {other}"),
    }
}

fn describe_alert(alert: AlertDescription) -> String {
    match alert {
        AlertDescription::CertificateRequired => {
            "the server requires a client certificate (alert certificate_required; set `client_cert` and `client_key`)".into()
        }
        AlertDescription::BadCertificate
        | AlertDescription::UnknownCA
        | AlertDescription::CertificateUnknown
        | AlertDescription::UnsupportedCertificate
        | AlertDescription::AccessDenied => {
            format!("the server refused the client certificate (alert {alert:?})")
        }
        AlertDescription::HandshakeFailure | AlertDescription::ProtocolVersion => format!(
            "the server refused the handshake (alert {alert:?}: no common TLS version or cipher suite?)"
        ),
        other => format!("handshake alert from the server: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::{ServerName, UnixTime};
    use std::time::Duration;

    #[test]
    fn certificate_problems_say_which() {
        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("127.0.0.2").expect("name"),
            presented: vec!["localhost".into(), "127.0.0.1".into()],
        });
        assert_eq!(
            describe_tls(&name),
            "certificate not valid for name 127.0.0.2 (it is valid for localhost, 127.0.0.1)"
        );
        let issuer = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(describe_tls(&issuer).starts_with("unknown issuer"));
        let expired = rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(Duration::from_secs(1_000)),
            not_after: UnixTime::since_unix_epoch(Duration::from_secs(400)),
        });
        assert_eq!(describe_tls(&expired), "certificate expired 600 s ago");
        let alert = rustls::Error::AlertReceived(AlertDescription::CertificateRequired);
        assert!(describe_tls(&alert).contains("requires a client certificate"));
    }

    #[test]
    fn io_errors_carry_their_tls_cause() {
        let wrapped = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::Expired),
        );
        assert_eq!(
            describe_io(&wrapped).as_deref(),
            Some("certificate expired")
        );
        assert_eq!(describe_io(&io::Error::other("plain")), None);
    }
}
