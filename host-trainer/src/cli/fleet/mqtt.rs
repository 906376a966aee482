//! Frames through an MQTT broker: a gateway publishes each frame a device
//! sends to the topic `vigie/DEVICE/report` (`vigie fleet publish` is one,
//! reading a capture), and `vigie fleet ingest --mqtt` subscribes to them
//! all. Plain TCP; QoS 1 (at least once: a frame the broker delivers twice
//! is stored once, as any repeated frame is).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use std::sync::mpsc;

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use vigie_core::report::read_frame;

use super::{Ingested, Ingester, Store};

/// The topics a gateway publishes to: `vigie/DEVICE/report`.
pub const TOPIC_FILTER: &str = "vigie/+/report";

/// Frames are stored (and their messages acknowledged) when the broker
/// has been quiet this long, so that `status` sees a live fleet within a
/// fraction of a second without a disk sync per frame...
const QUIET: Duration = Duration::from_millis(200);
/// ... or once this many messages wait for their acknowledgement: a
/// broker sends a client only so many unacknowledged messages at a time
/// (mosquitto: 20), so waiting for more would stall a busy line.
const ACK_WINDOW: usize = 16;

/// The topic of a frame: its device's, or `vigie/unknown/report` for bytes
/// that are not a frame (a gateway forwards what the line gave it).
pub fn topic_of(frame: &[u8]) -> String {
    let body = frame.strip_suffix(&[0]).unwrap_or(frame);
    match read_frame(body) {
        Ok(r) => format!("vigie/{}/report", r.device),
        Err(_) => "vigie/unknown/report".into(),
    }
}

/// `HOST:PORT` (the port defaults to MQTT's 1883).
pub fn address(text: &str) -> Result<(String, u16)> {
    if let Some((scheme, rest)) = text.split_once("://") {
        bail!("--mqtt {text}: write HOST:PORT without `{scheme}://` ({rest}); plain TCP is the only transport");
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>().ok().filter(|&p| p > 0).with_context(|| {
                format!(
                    "--mqtt {text}: `{p}` is not a port; write HOST:PORT, such as 127.0.0.1:1883"
                )
            })?,
        ),
        None => (text, 1883),
    };
    if host.is_empty() {
        bail!("--mqtt {text}: no host; write HOST:PORT, such as 127.0.0.1:1883");
    }
    Ok((host.trim_matches(['[', ']']).to_owned(), port))
}

/// Options for a client: under a session name, a persistent session with
/// that client id (the broker keeps the subscription and the QoS 1
/// messages not yet acknowledged while no subscriber runs, and hands them
/// to the next one with that name: one subscriber per name); without, a
/// clean session under an id no other client of the broker has (two
/// clients with one id knock each other off): `role`, the process and
/// the clock, mixed, since process numbers repeat across containers.
fn options(role: &str, session: Option<&str>, (host, port): &(String, u16)) -> MqttOptions {
    let id = session.map_or_else(
        || {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let id = crate::rng::Rng(nanos ^ u64::from(std::process::id()) << 32).next_u64();
            format!("vigie-{role}-{id:016x}")
        },
        str::to_owned,
    );
    let mut o = MqttOptions::new(id, host.clone(), *port);
    o.set_clean_session(session.is_none());
    o.set_keep_alive(Duration::from_secs(30));
    o
}

/// Whether something listens at `addr` (a TCP connection, closed at
/// once): checked before a database is created for a subscription that
/// could not start.
pub fn reachable(addr: &(String, u16)) -> Result<()> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<_> = (addr.0.as_str(), addr.1)
        .to_socket_addrs()
        .map_err(|e| unreachable(addr, &e))?
        .collect();
    let mut last = String::from("no address");
    for a in addrs {
        match std::net::TcpStream::connect_timeout(&a, Duration::from_secs(5)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(unreachable(addr, &last))
}

/// The error of a broker that cannot be reached, and what to check.
fn unreachable((host, port): &(String, u16), why: &dyn std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot reach the MQTT broker at {host}:{port}: {why}; is it running (apt-get install mosquitto)?"
    )
}

/// Runs a connection on its own thread and hands its events over a
/// channel, so that a timed wait never abandons one of its polls halfway
/// (rumqttc's own `recv_timeout` drops the poll it times out, and with it
/// what that poll had read). The thread ends at the connection's next
/// event once the receiver is dropped.
fn pump(mut connection: rumqttc::Connection) -> Events {
    let (tx, events) = mpsc::channel();
    std::thread::spawn(move || {
        for event in connection.iter() {
            let failed = event.is_err();
            if tx.send(event).is_err() {
                break;
            }
            if failed {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    });
    events
}

type Events = mpsc::Receiver<Result<Event, rumqttc::ConnectionError>>;

/// When a subscription stops.
#[derive(Debug, Clone, Copy, Default)]
pub struct Until {
    /// After this many messages.
    pub messages: Option<usize>,
    /// After this long without one.
    pub idle: Option<Duration>,
}

/// Consecutive failures to store a batch (the database restarting, busy)
/// after which the subscriber gives up; it waits a second after each.
const STORE_RETRIES: usize = 30;

/// Subscribes to [`TOPIC_FILTER`] at `addr` and stores every frame that
/// arrives, until `until` says stop (never, without it). Prints
/// `subscribed …` on standard error each time the broker grants the
/// subscription (again after a reconnection).
///
/// At least once: a message is acknowledged to the broker only once its
/// report is stored (or found damaged), so a message the subscriber did
/// not store comes again after a reconnection, and, with a named
/// `session`, to the next subscriber of that name; a repeated report is
/// stored once. A database that stops answering is reconnected to.
pub fn ingest(
    c: &mut Store,
    addr: &(String, u16),
    until: Until,
    session: Option<&str>,
) -> Result<Ingested> {
    let mut o = options("ingest", session, addr);
    o.set_manual_acks(true);
    let (client, connection) = Client::new(o, 64);
    let events = pump(connection);
    let mut ingester = Ingester::new(ACK_WINDOW);
    let mut unacked: Vec<rumqttc::Publish> = Vec::new();
    let mut subscribed = false;
    let mut failures = 0usize;
    let mut messages = 0usize;
    let mut last = Instant::now();
    // Stores what is pending, then acknowledges its messages; a failure
    // keeps both for the next try.
    let mut settle = |c: &mut Store,
                      ingester: &mut Ingester,
                      unacked: &mut Vec<rumqttc::Publish>|
     -> Result<()> {
        match ingester.flush(c) {
            Ok(()) => {
                failures = 0;
                for p in unacked.drain(..) {
                    client.ack(&p).context("acknowledging an MQTT message")?;
                }
                Ok(())
            }
            Err(e) if failures + 1 < STORE_RETRIES => {
                failures += 1;
                eprintln!("cannot store the reports ({e:#}); trying again in 1 s");
                std::thread::sleep(Duration::from_secs(1));
                if let Err(e) = c.reconnect() {
                    eprintln!("cannot reconnect to the database yet ({e:#})");
                }
                Ok(())
            }
            Err(e) => Err(e.context(format!("{STORE_RETRIES} tries to store the reports failed"))),
        }
    };
    loop {
        if until.messages.is_some_and(|n| messages >= n) {
            break;
        }
        match events.recv_timeout(QUIET) {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                // A clean session: the broker forgets the subscription
                // when the connection drops, so it is made on each one.
                client
                    .subscribe(TOPIC_FILTER, QoS::AtLeastOnce)
                    .context("queuing the MQTT subscription")?;
            }
            Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                subscribed = true;
                last = Instant::now();
                eprintln!("subscribed to {TOPIC_FILTER} on {}:{}", addr.0, addr.1);
            }
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                messages += 1;
                last = Instant::now();
                // One message is one frame, its ending zero optional: the
                // frame is cut off from what came before and after.
                ingester.take(&[0]);
                ingester.take(&p.payload);
                ingester.take(&[0]);
                unacked.push(p);
                if unacked.len() >= ACK_WINDOW {
                    settle(c, &mut ingester, &mut unacked)?;
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(rumqttc::ConnectionError::ConnectionRefused(code))) => {
                bail!(
                    "the MQTT broker at {}:{} refused the subscriber ({code:?}): check its users and `allow_anonymous`",
                    addr.0,
                    addr.1
                );
            }
            Ok(Err(e)) => {
                if !subscribed {
                    return Err(unreachable(addr, &e));
                }
                // The client reconnects on the next poll; the messages not
                // acknowledged come again.
                eprintln!("MQTT connection lost ({e}); reconnecting");
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                settle(c, &mut ingester, &mut unacked)?;
                if until.idle.is_some_and(|idle| last.elapsed() >= idle) {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    settle(c, &mut ingester, &mut unacked)?;
    let done = ingester.finish(c)?;
    // The last acknowledgements go out before the disconnection does:
    // wait for it (briefly), so that a named session does not get them
    // again.
    let _ = client.disconnect();
    let deadline = Instant::now() + Duration::from_secs(1);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left) {
            Ok(Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect))) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(_)) => {}
        }
    }
    Ok(done)
}

/// What a gateway sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Messages, one a piece of the line (up to a zero byte).
    pub total: usize,
    /// Those that are report frames (on their device's topic); the others
    /// went to `vigie/unknown/report`.
    pub reports: usize,
}

/// Publishes each frame of `bytes` (frames ending in a zero byte, as a
/// UART carries them) to its device's topic at QoS 1, and waits until the
/// broker has acknowledged them all.
pub fn publish(addr: &(String, u16), bytes: &[u8]) -> Result<Published> {
    let frames: Vec<Vec<u8>> = bytes
        .split_inclusive(|&b| b == 0)
        .filter(|f| f.len() > 1)
        .map(<[u8]>::to_vec)
        .collect();
    let total = frames.len();
    let reports = frames
        .iter()
        .filter(|f| read_frame(f.strip_suffix(&[0]).unwrap_or(f)).is_ok())
        .count();
    if total == 0 {
        return Ok(Published { total, reports });
    }
    let (client, connection) = Client::new(options("gateway", None, addr), 64);
    let events = pump(connection);
    let sender = client.clone();
    let queue = std::thread::spawn(move || -> Result<()> {
        for f in frames {
            sender
                .publish(topic_of(&f), QoS::AtLeastOnce, false, f)
                .context("queuing an MQTT message")?;
        }
        Ok(())
    });
    let mut acked = 0usize;
    let mut connected = false;
    let deadline = Duration::from_secs(30);
    let mut last = Instant::now();
    while acked < total {
        match events.recv_timeout(Duration::from_secs(1)) {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => connected = true,
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => {
                acked += 1;
                last = Instant::now();
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                if !connected {
                    return Err(unreachable(addr, &e));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if last.elapsed() > deadline {
            bail!(
                "the MQTT broker at {}:{} acknowledged {acked} of {total} frames, then nothing for {} s",
                addr.0,
                addr.1,
                deadline.as_secs()
            );
        }
    }
    match queue.join() {
        Ok(r) => r?,
        Err(_) => bail!("the MQTT publishing thread panicked"),
    }
    if acked < total {
        bail!(
            "the MQTT broker at {}:{} closed the connection after acknowledging {acked} of {total} frames",
            addr.0,
            addr.1
        );
    }
    let _ = client.disconnect();
    // Let the disconnect go out.
    let _ = events.recv_timeout(Duration::from_millis(100));
    Ok(Published {
        total: acked,
        reports,
    })
}
