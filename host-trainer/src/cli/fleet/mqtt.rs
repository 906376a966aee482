//! Frames through an MQTT broker: a gateway publishes each frame a device
//! sends to the topic `vigie/DEVICE/report` (`vigie fleet publish` is one,
//! reading a capture), and `vigie fleet ingest --mqtt` subscribes to them
//! all. Plain TCP; QoS 1 (at least once: a frame the broker delivers twice
//! is stored once, as any repeated frame is).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS, RecvTimeoutError};
use vigie_core::report::read_frame;

use super::{Ingested, Ingester, Store};

/// The topics a gateway publishes to: `vigie/DEVICE/report`.
pub const TOPIC_FILTER: &str = "vigie/+/report";

/// Frames are committed when the broker has been quiet this long (or
/// every [`COMMIT_EVERY`] frames), so that `status` sees a live fleet
/// within a fraction of a second without a disk sync per frame.
const QUIET: Duration = Duration::from_millis(200);
const COMMIT_EVERY: usize = 500;

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

fn options(role: &str, (host, port): &(String, u16)) -> MqttOptions {
    let mut o = MqttOptions::new(
        format!("vigie-{role}-{}", std::process::id()),
        host.clone(),
        *port,
    );
    o.set_keep_alive(Duration::from_secs(30));
    o
}

/// When a subscription stops.
#[derive(Debug, Clone, Copy, Default)]
pub struct Until {
    /// After this many messages.
    pub messages: Option<usize>,
    /// After this long without one.
    pub idle: Option<Duration>,
}

/// Subscribes to [`TOPIC_FILTER`] at `addr` and stores every frame that
/// arrives, until `until` says stop (never, without it). Prints
/// `subscribed …` on standard error once the broker has granted the
/// subscription.
pub fn ingest(c: &mut Store, addr: &(String, u16), until: Until) -> Result<Ingested> {
    let (client, mut connection) = Client::new(options("ingest", addr), 64);
    client
        .subscribe(TOPIC_FILTER, QoS::AtLeastOnce)
        .context("queuing the MQTT subscription")?;
    let mut ingester = Ingester::new(COMMIT_EVERY);
    let mut subscribed = false;
    let mut messages = 0usize;
    let mut last = Instant::now();
    loop {
        if until.messages.is_some_and(|n| messages >= n) {
            break;
        }
        match connection.recv_timeout(QUIET) {
            Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                subscribed = true;
                last = Instant::now();
                eprintln!("subscribed to {TOPIC_FILTER} on {}:{}", addr.0, addr.1);
            }
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                messages += 1;
                last = Instant::now();
                ingester.feed(c, &p.payload)?;
                // One message is one frame, its ending zero optional.
                if p.payload.last() != Some(&0) {
                    ingester.feed(c, &[0])?;
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                if !subscribed {
                    bail!(
                        "cannot reach the MQTT broker at {}:{}: {e}; is it running (apt-get install mosquitto)?",
                        addr.0,
                        addr.1
                    );
                }
                // The client reconnects on the next poll.
                eprintln!("MQTT connection lost ({e}); reconnecting");
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(RecvTimeoutError::Timeout) => {
                ingester.flush(c)?;
                if until.idle.is_some_and(|idle| last.elapsed() >= idle) {
                    break;
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = client.disconnect();
    ingester.finish(c)
}

/// Publishes each frame of `bytes` (frames ending in a zero byte, as a
/// UART carries them) to its device's topic at QoS 1, and waits until the
/// broker has acknowledged them all. Returns the frames sent.
pub fn publish(addr: &(String, u16), bytes: &[u8]) -> Result<usize> {
    let frames: Vec<Vec<u8>> = bytes
        .split_inclusive(|&b| b == 0)
        .filter(|f| f.len() > 1)
        .map(<[u8]>::to_vec)
        .collect();
    let total = frames.len();
    if total == 0 {
        return Ok(0);
    }
    let (client, mut connection) = Client::new(options("gateway", addr), 64);
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
        match connection.recv_timeout(Duration::from_secs(1)) {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => connected = true,
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => {
                acked += 1;
                last = Instant::now();
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                if !connected {
                    bail!(
                        "cannot reach the MQTT broker at {}:{}: {e}; is it running (apt-get install mosquitto)?",
                        addr.0,
                        addr.1
                    );
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
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
    let _ = client.disconnect();
    // Let the disconnect go out.
    let _ = connection.recv_timeout(Duration::from_millis(100));
    Ok(acked)
}
