//! A TCP proxy between the service and PostgreSQL that a test can cut and
//! restore, or stall (stop forwarding while keeping every connection open, as a
//! network that silently drops packets looks from the service's side), to stage
//! a database outage without touching the shared server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

#[derive(Clone)]
pub struct TcpProxy {
    pub port: u16,
    cut: Arc<AtomicBool>,
    /// `true` while bytes flow.
    flowing: watch::Sender<bool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl TcpProxy {
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Self {
            port,
            cut: Arc::new(AtomicBool::new(false)),
            flowing: watch::channel(true).0,
            links: Arc::new(Mutex::new(Vec::new())),
        };
        let accepting = proxy.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if accepting.cut.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let flowing = accepting.flowing.subscribe();
                let link = tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(target).await {
                        let (in_read, in_write) = inbound.into_split();
                        let (out_read, out_write) = outbound.into_split();
                        tokio::join!(
                            forward(in_read, out_write, flowing.clone()),
                            forward(out_read, in_write, flowing),
                        );
                    }
                });
                accepting.links.lock().unwrap().push(link.abort_handle());
            }
        });
        proxy
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }

    /// Keeps every connection open, and accepts new ones, but forwards nothing.
    pub fn stall(&self) {
        self.flowing.send_replace(false);
    }

    /// Forwards again, what was held back first.
    pub fn resume(&self) {
        self.flowing.send_replace(true);
    }
}

/// Copies `from` to `to`, holding each chunk back while the proxy is stalled.
async fn forward(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut flowing: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if flowing.wait_for(|flowing| *flowing).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
