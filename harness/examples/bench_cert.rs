//! Writes a throwaway CA and a server certificate for 127.0.0.1 and localhost, for the
//! HTTPS rows of `bench/run.sh` (see `BENCHMARKS.md`).
//!
//! ```text
//! bench_cert DIR      # writes DIR/ca.pem, DIR/cert.pem, DIR/key.pem
//! ```
//!
//! Made with rcgen, so nothing outside the package registries (no `openssl`) is needed.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: bench_cert DIR");
        std::process::exit(2);
    };
    if let Err(e) = write(Path::new(&dir)) {
        eprintln!("bench_cert: {e}");
        std::process::exit(1);
    }
}

fn write(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "harness bench CA");
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    std::fs::write(dir.join("ca.pem"), ca.pem())?;
    std::fs::write(dir.join("cert.pem"), cert.pem())?;
    std::fs::write(dir.join("key.pem"), key.serialize_pem())?;
    Ok(())
}
