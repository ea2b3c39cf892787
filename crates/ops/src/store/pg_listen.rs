//! Change announcements between nodes sharing a PostgreSQL store: every flush that writes
//! tenants, agents, PATs or sessions ends with `pg_notify('argus_changes', …)` naming the keys
//! (delivered only on commit, in commit order), and each node listens on a dedicated
//! connection and reads those keys again. A lost connection means announcements may have been
//! missed: on losing it, and again once listening (the first time too: what was written
//! between the node's start-up load and its `LISTEN` was announced to nobody it heard), the node
//! is told to re-read everything.

use std::time::Duration;

use futures_util::future::poll_fn;
use tokio::sync::mpsc::UnboundedSender;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Socket};

use super::url::{PgUrl, SslMode};
use super::Changes;

/// The notification channel.
pub const CHANNEL: &str = "argus_changes";

/// How long a lost listening connection waits before connecting again.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// Listens until `out` is closed, reconnecting after any loss.
pub async fn listen(config: tokio_postgres::Config, url: PgUrl, node: String, out: UnboundedSender<Changes>) {
    while !out.is_closed() {
        let result = match url.ssl {
            SslMode::Disable => listen_once(&config, tokio_postgres::NoTls, &node, &out).await,
            _ => match super::pg_tls::connector(&url) {
                Ok(tls) => listen_once(&config, tls, &node, &out).await,
                Err(error) => Err(error.to_string()),
            },
        };
        if let Err(error) = result {
            tracing::warn!(%error, "listening for other nodes' changes failed; reconnecting");
            // Announcements may be missed from now on: the node re-reads everything, and while
            // the store is away its view counts as stale (commands answer 503 rather than run
            // on what may have ended elsewhere).
            let _ = out.send(Changes { node: String::new(), everything: true, ..Changes::default() });
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

/// One listening connection: forwards other nodes' announcements until the connection ends.
async fn listen_once<T>(
    config: &tokio_postgres::Config,
    tls: T,
    node: &str,
    out: &UnboundedSender<Changes>,
) -> Result<(), String>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let (client, mut connection) = config.connect(tls).await.map_err(|e| e.to_string())?;
    let (payloads, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(notification)) => {
                    if payloads.send(notification.payload().to_string()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await.map_err(|e| e.to_string())?;
    // Whatever was announced while this node was not listening is unknown.
    let _ = out.send(Changes { node: String::new(), everything: true, ..Changes::default() });
    while let Some(payload) = received.recv().await {
        match serde_json::from_str::<Changes>(&payload) {
            Ok(changes) if changes.node == node => {}
            Ok(changes) => {
                if out.send(changes).is_err() {
                    break;
                }
            }
            Err(error) => tracing::warn!(%error, "unreadable change announcement ignored"),
        }
    }
    driver.abort();
    Err("the listening connection closed".into())
}
