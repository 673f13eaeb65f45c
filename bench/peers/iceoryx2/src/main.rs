//! iceoryx2 peer for `shimmy bench` (driven by bench/external/iceoryx2.ts).
//!
//! One process per role, each printing one JSON line on stdout when done:
//!
//! * `sub` / `pub`: throughput, 1 publisher -> 1 subscriber on `<service>/data`. The
//!   publisher loans a `[u8]` slice, copies the message in, stamps a sequence number and
//!   sends; when the subscriber's buffer is full it retries until delivered
//!   (`BackpressureStrategy::RetryUntilDelivered`), so nothing is lost. The subscriber says
//!   on `<service>/ack` when it is connected (iceoryx2 drops what a publisher sends into a
//!   full buffer nobody has connected to) and when it got the `warmup` untimed messages; the
//!   publisher starts its clock after that. A zero-length message ends the run.
//! * `ping` / `pong`: latency, one message in flight on `<service>/ping` and `<service>/pong`;
//!   the pinger reports round trip / 2 per sample.
//! * `cleanup`: removes what dead (killed) nodes left behind.
//!
//! Every receiver busy-polls `receive()` (with `spin_loop`) and sums every payload byte;
//! every sender reports the same sum over what it sent, so the caller can compare them.
//! Times are CLOCK_MONOTONIC nanoseconds, comparable across the two processes.

use std::collections::HashMap;
use std::hint::spin_loop;
use std::time::{Duration, Instant};

use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;

type Res<T> = Result<T, Box<dyn std::error::Error>>;
type Data = iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, [u8], ()>;

struct Args {
    mode: String,
    service: String,
    size: usize,
    count: u64,
    warmup: u64,
    budget: Duration,
    timeout: Duration,
}

fn parse_args() -> Res<Args> {
    let mut it = std::env::args().skip(1);
    let mode = it
        .next()
        .ok_or("usage: iceoryx2-peer <sub|pub|ping|pong|cleanup> [--key value]...")?;
    let mut kv = HashMap::new();
    while let Some(k) = it.next() {
        let k = k
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {k}"))?
            .to_string();
        kv.insert(
            k.clone(),
            it.next().ok_or_else(|| format!("--{k} needs a value"))?,
        );
    }
    let num = |k: &str, d: u64| -> Res<u64> {
        Ok(kv.get(k).map(|v| v.parse()).transpose()?.unwrap_or(d))
    };
    let args = Args {
        service: kv.get("service").cloned().unwrap_or_default(),
        size: num("size", 16)? as usize,
        count: num("count", 0)?,
        warmup: num("warmup", 0)?,
        budget: Duration::from_millis(num("budget-ms", 60_000)?),
        timeout: Duration::from_millis(num("timeout-ms", 120_000)?),
        mode,
    };
    if args.mode != "cleanup" && (args.service.is_empty() || args.size == 0) {
        return Err("--service and a --size of at least 1 are required".into());
    }
    Ok(args)
}

fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Sum of all bytes; u32 lanes per 64 KiB chunk (cannot overflow) so it vectorizes.
fn byte_sum(b: &[u8]) -> u64 {
    b.chunks(1 << 16)
        .map(|c| c.iter().map(|&x| x as u32).sum::<u32>() as u64)
        .sum()
}

/// Message bytes: a fixed pattern with the sequence number (little endian) in the first
/// (up to) 8 bytes, so every message differs and a lost one changes the sum.
struct Pattern {
    template: Vec<u8>,
    stamp: usize,
    base_sum: u64,
}

impl Pattern {
    fn new(size: usize) -> Self {
        let template: Vec<u8> = (0..size)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(7))
            .collect();
        let stamp = size.min(8);
        let base_sum = byte_sum(&template) - byte_sum(&template[..stamp]);
        Pattern {
            template,
            stamp,
            base_sum,
        }
    }

    /// Writes message `seq` into a loaned slice, sends it, and returns its byte sum.
    fn send(
        &self,
        publisher: &iceoryx2::port::publisher::Publisher<ipc::Service, [u8], ()>,
        seq: u64,
    ) -> Res<u64> {
        let mut sample = publisher
            .loan_slice_uninit(self.template.len())?
            .write_from_slice(&self.template);
        let seq = seq.to_le_bytes();
        sample.payload_mut()[..self.stamp].copy_from_slice(&seq[..self.stamp]);
        sample.send()?;
        Ok(self.base_sum + byte_sum(&seq[..self.stamp]))
    }
}

/// Calls `poll` until it returns Some; errors out after the deadline. Busy: spin_loop only.
fn spin_until<T>(
    deadline: Instant,
    what: &str,
    mut poll: impl FnMut() -> Res<Option<T>>,
) -> Res<T> {
    let mut idle = 0u32;
    loop {
        if let Some(v) = poll()? {
            return Ok(v);
        }
        spin_loop();
        idle = idle.wrapping_add(1);
        if idle.is_multiple_of(4096) && Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
    }
}

/// Untimed waits (start-up): let the other process have the core.
fn wait_for(deadline: Instant, what: &str, mut ready: impl FnMut() -> bool) -> Res<()> {
    while !ready() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(())
}

/// Both sides open_or_create with the same settings, so either may start first.
fn service(node: &Node<ipc::Service>, name: &str, buffer: usize) -> Res<Data> {
    Ok(node
        .service_builder(&ServiceName::new(name)?)
        .publish_subscribe::<[u8]>()
        .max_publishers(1)
        .max_subscribers(1)
        .history_size(0)
        .subscriber_max_buffer_size(buffer)
        .enable_safe_overflow(false)
        .open_or_create()?)
}

fn publisher(
    svc: &Data,
    size: usize,
) -> Res<iceoryx2::port::publisher::Publisher<ipc::Service, [u8], ()>> {
    Ok(svc
        .publisher_builder()
        .initial_max_slice_len(size)
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()?)
}

/// Subscriber buffer for throughput: about the 8 MiB ring the Shimmy channels get.
fn throughput_buffer(size: usize) -> usize {
    (8 * 1024 * 1024 / size).clamp(16, 4096)
}

fn run_sub(a: &Args, node: &Node<ipc::Service>) -> Res<String> {
    let deadline = Instant::now() + a.timeout;
    let ack_svc = service(node, &format!("{}/ack", a.service), 2)?;
    let ack = publisher(&ack_svc, 1)?;
    let data = service(
        node,
        &format!("{}/data", a.service),
        throughput_buffer(a.size),
    )?;
    let sub = data.subscriber_builder().create()?;
    // A publisher sending into a full buffer that no subscriber has connected to yet drops
    // the message, so connect first and say so: ack 1 is "connected", ack 2 "warmed up".
    wait_for(deadline, "the publisher", || {
        data.dynamic_config().number_of_publishers() >= 1
    })?;
    sub.update_connections()?;
    ack.loan_slice_uninit(1)?.write_from_slice(&[1]).send()?;
    let (mut received, mut bytes, mut checksum) = (0u64, 0u64, 0u64);
    if a.warmup == 0 {
        ack.loan_slice_uninit(1)?.write_from_slice(&[2]).send()?;
    }
    loop {
        let sample = spin_until(deadline, "the publisher's messages", || Ok(sub.receive()?))
            .map_err(|e| {
                format!(
                    "{e} (after {received} of {} warm-up + {})",
                    a.warmup, a.count
                )
            })?;
        let p = sample.payload();
        if p.is_empty() {
            break;
        }
        checksum = checksum.wrapping_add(byte_sum(p));
        received += 1;
        if received > a.warmup {
            bytes += p.len() as u64;
        } else if received == a.warmup {
            ack.loan_slice_uninit(1)?.write_from_slice(&[2]).send()?;
        }
    }
    let last_ns = mono_ns();
    Ok(format!(
        r#"{{"mode":"sub","received":{},"warmupReceived":{},"bytes":{bytes},"checksum":"{checksum}","lastNs":{last_ns}}}"#,
        received.saturating_sub(a.warmup),
        received.min(a.warmup)
    ))
}

fn run_pub(a: &Args, node: &Node<ipc::Service>) -> Res<String> {
    let deadline = Instant::now() + a.timeout;
    let ack_svc = service(node, &format!("{}/ack", a.service), 2)?;
    let ack = ack_svc.subscriber_builder().create()?;
    let data = service(
        node,
        &format!("{}/data", a.service),
        throughput_buffer(a.size),
    )?;
    let publisher = publisher(&data, a.size)?;
    spin_until(deadline, "the subscriber to connect", || Ok(ack.receive()?))?;
    let pattern = Pattern::new(a.size);
    let mut checksum = 0u64;
    for seq in 0..a.warmup {
        checksum = checksum.wrapping_add(pattern.send(&publisher, seq)?);
    }
    spin_until(deadline, "the subscriber's warm-up acknowledgement", || {
        Ok(ack.receive()?)
    })?;

    let start_ns = mono_ns();
    let budget_end = Instant::now() + a.budget;
    let mut sent = 0u64;
    while sent < a.count {
        checksum = checksum.wrapping_add(pattern.send(&publisher, a.warmup + sent)?);
        sent += 1;
        if sent.is_multiple_of(1024) && Instant::now() > budget_end {
            break;
        }
    }
    let end_ns = mono_ns();
    publisher
        .loan_slice_uninit(0)?
        .write_from_slice(&[])
        .send()?;
    Ok(format!(
        r#"{{"mode":"pub","sent":{sent},"warmupSent":{},"checksum":"{checksum}","startNs":{start_ns},"endNs":{end_ns}}}"#,
        a.warmup
    ))
}

fn run_pong(a: &Args, node: &Node<ipc::Service>) -> Res<String> {
    let deadline = Instant::now() + a.timeout;
    let ping = service(node, &format!("{}/ping", a.service), 2)?
        .subscriber_builder()
        .create()?;
    let pong_svc = service(node, &format!("{}/pong", a.service), 2)?;
    let pong = publisher(&pong_svc, a.size)?;
    let (mut echoed, mut checksum) = (0u64, 0u64);
    loop {
        let sample = spin_until(deadline, "a ping", || Ok(ping.receive()?))
            .map_err(|e| format!("{e} (after {echoed})"))?;
        let p = sample.payload();
        if p.is_empty() {
            break;
        }
        checksum = checksum.wrapping_add(byte_sum(p));
        pong.loan_slice_uninit(p.len())?
            .write_from_slice(p)
            .send()?;
        echoed += 1;
    }
    Ok(format!(
        r#"{{"mode":"pong","echoed":{echoed},"checksum":"{checksum}"}}"#
    ))
}

fn run_ping(a: &Args, node: &Node<ipc::Service>) -> Res<String> {
    let deadline = Instant::now() + a.timeout;
    let ping_svc = service(node, &format!("{}/ping", a.service), 2)?;
    let ping = publisher(&ping_svc, a.size)?;
    let pong_svc = service(node, &format!("{}/pong", a.service), 2)?;
    let pong = pong_svc.subscriber_builder().create()?;
    wait_for(deadline, "the ponger", || {
        ping_svc.dynamic_config().number_of_subscribers() >= 1
            && pong_svc.dynamic_config().number_of_publishers() >= 1
    })?;
    let pattern = Pattern::new(a.size);
    let warmup = (a.count / 10).clamp(10, 1000);
    let budget_end = Instant::now() + a.budget;
    let (mut sent_sum, mut recv_sum) = (0u64, 0u64);
    let mut one_way_us: Vec<f64> = Vec::with_capacity(a.count as usize);
    for i in 0..warmup + a.count {
        let t0 = Instant::now();
        sent_sum = sent_sum.wrapping_add(pattern.send(&ping, i)?);
        let reply = spin_until(deadline, "a pong", || Ok(pong.receive()?))
            .map_err(|e| format!("{e} (reply {i})"))?;
        recv_sum = recv_sum.wrapping_add(byte_sum(reply.payload()));
        let rtt = t0.elapsed();
        drop(reply);
        if i >= warmup {
            one_way_us.push(rtt.as_nanos() as f64 / 2000.0);
        }
        if one_way_us.len() >= 100 && Instant::now() > budget_end {
            break;
        }
    }
    ping.loan_slice_uninit(0)?.write_from_slice(&[]).send()?;
    let samples: Vec<String> = one_way_us.iter().map(|v| format!("{v:.3}")).collect();
    Ok(format!(
        r#"{{"mode":"ping","samples":{},"sentChecksum":"{sent_sum}","recvChecksum":"{recv_sum}","oneWayUs":[{}]}}"#,
        samples.len(),
        samples.join(",")
    ))
}

/// Dead nodes (killed processes) that have not been cleaned up yet.
fn dead_nodes() -> Res<u64> {
    let mut dead = 0;
    Node::<ipc::Service>::list(Config::global_config(), |state| {
        if let NodeState::Dead(_) = state {
            dead += 1;
        }
        CallbackProgression::Continue
    })?;
    Ok(dead)
}

/// Creating a node removes dead nodes' resources (the default config); then once more.
fn run_cleanup() -> Res<String> {
    let dead = dead_nodes()?;
    let node = NodeBuilder::new().create::<ipc::Service>()?;
    node.try_cleanup_dead_nodes();
    drop(node);
    Ok(format!(
        r#"{{"mode":"cleanup","dead":{dead},"remaining":{}}}"#,
        dead_nodes()?
    ))
}

fn main() {
    set_log_level(LogLevel::Error);
    let result = parse_args().and_then(|a| {
        if a.mode == "cleanup" {
            return run_cleanup();
        }
        let node = NodeBuilder::new().create::<ipc::Service>()?;
        match a.mode.as_str() {
            "sub" => run_sub(&a, &node),
            "pub" => run_pub(&a, &node),
            "ping" => run_ping(&a, &node),
            "pong" => run_pong(&a, &node),
            m => Err(format!("unknown mode {m}").into()),
        }
    });
    match result {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("iceoryx2-peer: {e}");
            std::process::exit(1);
        }
    }
}
