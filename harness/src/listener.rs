//! The accept loop every harness server shares (reference platform, fault proxy, control
//! API): accept until told to stop, one task per connection, reap finished connections so
//! memory stays flat, and end every connection on the way out.

use std::future::Future;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

/// Accepts on `listener` until `stopped` fires; `serve` turns each accepted stream into the
/// future that serves it (a hyper connection, usually). Connections still open at the end
/// are aborted.
pub async fn accept_until<F, Fut>(
    listener: TcpListener,
    mut stopped: oneshot::Receiver<()>,
    mut serve: F,
) where
    F: FnMut(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Small request/response exchanges: Nagle would add delayed-ACK stalls.
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve(stream));
                }
                // Out of file descriptors and similar: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            // Reap finished connections so the set does not grow with the run.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Idle keep-alive connections would otherwise hold the server open after a stop.
    connections.shutdown().await;
}
