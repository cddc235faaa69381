//! The proxies of one `harness proxy` process, by name: created, updated, disabled,
//! re-enabled and deleted through the Toxiproxy dialect, with the proxy of a
//! `--config` file (if any) as the one the native root endpoints (`/faults`,
//! `/attempts`) speak about.
//!
//! One lock guards the whole map, as Toxiproxy's collection does: changes are rare and
//! small, a stop waits for the proxy's connections to go, and `/populate` must see a
//! consistent map from its first proxy to its last. Traffic never takes this lock.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;

use tokio::sync::{Mutex, MutexGuard};

use super::state::{Managed, Recipe};
use crate::fault::{FaultProxy, FaultSpec, ProxyOptions};

/// The proxies of a process.
#[derive(Debug)]
pub struct Registry {
    proxies: Mutex<BTreeMap<String, Managed>>,
    /// The proxy the native root endpoints act on: the `--config` file's.
    default: Option<String>,
    /// The seed of proxies created through the API.
    seed: u64,
}

impl Registry {
    /// No proxies yet; proxies created through the API use `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            proxies: Mutex::new(BTreeMap::new()),
            default: None,
            seed,
        }
    }

    /// A registry holding the proxy of a `--config` file, started now with `faults` in
    /// force; the native root endpoints act on it.
    pub fn with_file_proxy(recipe: Recipe, faults: Vec<FaultSpec>) -> io::Result<Self> {
        let name = recipe.info.name.clone();
        let seed = recipe.seed;
        let managed = Managed::new(recipe, faults, true)?;
        Ok(Self {
            proxies: Mutex::new(BTreeMap::from([(name.clone(), managed)])),
            default: Some(name),
            seed,
        })
    }

    /// The name of the `--config` file's proxy, if there is one.
    pub fn default_name(&self) -> Option<&str> {
        self.default.as_deref()
    }

    /// The seed of proxies created through the API.
    pub(super) fn seed(&self) -> u64 {
        self.seed
    }

    /// Options of proxies created through the API: counts only in the attempt log.
    pub(super) fn options() -> ProxyOptions {
        ProxyOptions {
            log_capacity: 0,
            ..ProxyOptions::default()
        }
    }

    pub(super) async fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Managed>> {
        self.proxies.lock().await
    }

    /// The address the proxy called `name` listens on, if it exists and is enabled.
    pub async fn proxy_addr(&self, name: &str) -> Option<SocketAddr> {
        let proxies = self.lock().await;
        proxies.get(name)?.running().map(FaultProxy::addr)
    }

    /// Stops every proxy and waits until their connections are gone.
    pub async fn shutdown(&self) {
        let mut proxies = self.lock().await;
        for managed in proxies.values_mut() {
            managed.stop().await;
        }
        proxies.clear();
    }
}
