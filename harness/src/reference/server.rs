//! The server of the service and the executor: a [`Handler`] served by the harness's
//! shared HTTP/1.1 server ([`crate::server::spawn_http`]), stopped on demand or on drop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::net::TcpListener;

use super::http::Reply;
use crate::server::{ServerHandle, spawn_http};

/// A request handler served by [`Server`].
pub(crate) trait Handler: Send + Sync + 'static {
    /// Answers one request; never fails (errors are HTTP statuses).
    fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> impl Future<Output = Response<Reply>> + Send;
}

/// A running HTTP server; dropping it aborts its accept loop and every connection.
#[derive(Debug)]
pub(crate) struct Server(ServerHandle);

impl Server {
    /// Serves `handler` on `listener` until stopped or dropped.
    pub(crate) fn spawn<H: Handler>(
        listener: TcpListener,
        handler: Arc<H>,
    ) -> std::io::Result<Self> {
        spawn_http(listener, move |req| Arc::clone(&handler).handle(req)).map(Self)
    }

    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.0.addr()
    }

    /// Closes the listener, ends every connection and waits until all are gone.
    pub(crate) async fn stop(&mut self) {
        self.0.stop().await;
    }
}
