//! A TCP proxy on loopback that a test can cut, partition and restore: a
//! node or a database going away and coming back, over real sockets.
//!
//! Cutting closes the connections (the other side sees them end at once);
//! a partition holds them open and passes nothing, as when packets are
//! dropped on the way, so only the client's own timeouts can tell.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

const UP: u8 = 0;
const CUT: u8 = 1;
const PARTITIONED: u8 = 2;

/// A running proxy; it stops with the test's runtime.
#[derive(Debug)]
pub struct TcpProxy {
    /// The port it listens on, at 127.0.0.1.
    pub port: u16,
    state: Arc<AtomicU8>,
    changed: Arc<Notify>,
}

impl TcpProxy {
    /// Forwards 127.0.0.1:<port> to 127.0.0.1:`target`.
    pub async fn start(target: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(AtomicU8::new(UP));
        let changed = Arc::new(Notify::new());
        let (shared, notify) = (state.clone(), changed.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(carry(client, target, shared.clone(), notify.clone()));
            }
        });
        Ok(Self { port, state, changed })
    }

    /// Open connections drop; new ones are closed at once.
    pub fn cut(&self) {
        self.set(CUT);
    }

    /// Open connections and new ones stay open, and nothing passes, until
    /// [`TcpProxy::up`]; then they are closed.
    pub fn partition(&self) {
        self.set(PARTITIONED);
    }

    /// Connections pass again (those held by a partition are closed).
    pub fn up(&self) {
        self.set(UP);
    }

    fn set(&self, state: u8) {
        self.state.store(state, Ordering::SeqCst);
        self.changed.notify_waiters();
    }
}

/// Carries one connection while the proxy is up.
async fn carry(mut client: TcpStream, target: u16, state: Arc<AtomicU8>, changed: Arc<Notify>) {
    let hold_until_up = async || {
        while state.load(Ordering::SeqCst) == PARTITIONED {
            let next = changed.notified();
            if state.load(Ordering::SeqCst) != PARTITIONED {
                break;
            }
            next.await;
        }
    };
    match state.load(Ordering::SeqCst) {
        CUT => return,
        PARTITIONED => return hold_until_up().await,
        _ => {}
    }
    let Ok(mut node) = TcpStream::connect(("127.0.0.1", target)).await else { return };
    let copy = tokio::io::copy_bidirectional(&mut client, &mut node);
    tokio::pin!(copy);
    loop {
        let next = changed.notified();
        tokio::select! {
            _ = &mut copy => return,
            () = next => match state.load(Ordering::SeqCst) {
                CUT => return,
                // Both sockets stay open (`copy` holds them), unread.
                PARTITIONED => return hold_until_up().await,
                _ => {}
            },
        }
    }
}
