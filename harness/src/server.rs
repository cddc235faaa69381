//! The handle of a running server: its address, a stop signal and the task serving it.
//!
//! Every server of the harness (the fault proxy, its control API, the reference platform,
//! the OTLP receiver) runs as one task that serves until told to stop (usually through
//! [`crate::listener::accept_until`]). A [`ServerHandle`] owns that task: [`stop`]
//! signals it and waits until every connection is gone; dropping the handle aborts the
//! task, which aborts every connection task too.
//!
//! [`spawn_http`] is the HTTP/1.1 server of the reference platform and the control API:
//! keep-alive on hyper, one task per connection, one function answering every request
//! (with a whole body, or a streamed one such as the reference platform's SSE answers).
//!
//! [`stop`]: ServerHandle::stop

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::listener::accept_until;

/// A running server; dropping it aborts its task and every connection.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// Spawns `serve` on the current Tokio runtime for a server bound to `addr`; `serve`
    /// gets the receiver that fires when the server is to stop, and must end then.
    pub fn spawn<F, Fut>(addr: SocketAddr, serve: F) -> Self
    where
        F: FnOnce(oneshot::Receiver<()>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(stopped));
        Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Signals the server to stop and waits until its task (and so every connection) has
    /// ended; calling it again does nothing.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            // The task ends only by the stop signal; a JoinError means it was aborted.
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // Aborting drops the accept loop's JoinSet, which aborts every connection too.
            task.abort();
        }
    }
}

/// Serves HTTP/1.1 with keep-alive on `listener`, every request answered by `answer`
/// (which never fails: errors are HTTP statuses), until stopped or dropped; must be
/// called within a Tokio runtime.
pub fn spawn_http<F, Fut, B>(listener: TcpListener, answer: F) -> io::Result<ServerHandle>
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let addr = listener.local_addr()?;
    let answer = Arc::new(answer);
    Ok(ServerHandle::spawn(addr, move |stopped| {
        serve_http(listener, answer, stopped)
    }))
}

async fn serve_http<F, Fut, B>(
    listener: TcpListener,
    answer: Arc<F>,
    stopped: oneshot::Receiver<()>,
) where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = http1::Builder::new();
    // The timer enables hyper's header read timeout, so idle half-open clients cannot pin
    // connections forever.
    builder.timer(TokioTimer::new()).keep_alive(true);
    accept_until(listener, stopped, move |stream| {
        let answer = Arc::clone(&answer);
        let service = service_fn(move |request| {
            let answered = answer(request);
            async move { Ok::<_, Infallible>(answered.await) }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        async move {
            // A client going away mid-exchange is normal under load; nothing to report.
            let _ = connection.await;
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_waits_for_the_task_and_drop_aborts_it() {
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let (done, ended) = oneshot::channel::<()>();
        let mut handle = ServerHandle::spawn(addr, |stopped| async move {
            let _ = stopped.await;
            let _ = done.send(());
        });
        assert_eq!(handle.addr(), addr);
        handle.stop().await;
        assert!(ended.await.is_ok(), "the task saw the stop signal");
        handle.stop().await;

        let (_keep, never) = oneshot::channel::<()>();
        let handle = ServerHandle::spawn(addr, |_stopped| async move {
            let _ = never.await;
        });
        drop(handle);
    }
}
