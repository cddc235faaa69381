//! The accept loop shared by the service and the executor: HTTP/1.1 with keep-alive on
//! hyper, one task per connection, all owned by one task that stops on demand or on drop.

use crate::listener::accept_until;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A request handler served by [`Server`].
pub(crate) trait Handler: Send + Sync + 'static {
    /// Answers one request; never fails (errors are HTTP statuses).
    fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> impl Future<Output = Response<Full<Bytes>>> + Send;
}

/// A running HTTP server; dropping it aborts its accept loop and every connection.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `handler` on `listener` until stopped or dropped.
    pub(crate) fn spawn<H: Handler>(
        listener: TcpListener,
        handler: Arc<H>,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, handler, stopped));
        Ok(Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes the listener, ends every connection and waits until all are gone.
    pub(crate) async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            // The loop only ends by the stop signal; a JoinError here means it was aborted.
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // Aborting drops the loop's JoinSet, which aborts every connection task too.
            task.abort();
        }
    }
}

async fn accept_loop<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    stopped: oneshot::Receiver<()>,
) {
    let mut builder = http1::Builder::new();
    // The timer enables hyper's header read timeout, so idle half-open clients cannot pin
    // connections forever.
    builder.timer(TokioTimer::new()).keep_alive(true);
    accept_until(listener, stopped, move |stream| {
        let handler = Arc::clone(&handler);
        let service = service_fn(move |req| {
            let handler = Arc::clone(&handler);
            async move { Ok::<_, Infallible>(handler.handle(req).await) }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        async move {
            // A client going away mid-exchange is normal under load; nothing to report.
            let _ = connection.await;
        }
    })
    .await;
}
