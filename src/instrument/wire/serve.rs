//! Serving a [`WireServer`] on a byte stream: a pseudo-terminal (for tests and
//! demos) or a real serial port, with faults that can be switched on: garbled
//! and dropped lines, delayed replies, a disconnect, an instrument reset, and
//! an emulated line rate (a pty has no baud rate of its own).

use super::server::WireServer;
use crate::instrument::Instrument;
use crate::seed;
use rand::Rng;
use serialport::{SerialPort, TTYPort};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Faults of the line and of the instrument.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Share of lines (either direction) with a corrupted byte.
    pub garble: f64,
    /// Share of lines (either direction) lost.
    pub drop: f64,
    /// Share of replies held back by `delay_ms`.
    pub delay: f64,
    pub delay_ms: u64,
    /// Drop the connection once, on this received line.
    pub disconnect_after: Option<u64>,
    /// Reset the instrument once, on this received line (tip withdrawn, replies forgotten).
    pub reset_after: Option<u64>,
    pub seed: u64,
}

impl Faults {
    /// The set the acceptance run uses: 2% garbled, 2% dropped, one
    /// disconnect and one reset.
    pub fn standard(seed: u64) -> Self {
        Self {
            garble: 0.02,
            drop: 0.02,
            delay: 0.01,
            delay_ms: 300,
            disconnect_after: Some(150),
            reset_after: Some(400),
            seed,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub faults: Faults,
    /// Emulated line rate in baud (10 bits a byte); `None` is as fast as the pty goes.
    pub line_baud: Option<u32>,
    /// A symlink kept pointing at the current pty, like a udev name for a USB
    /// adapter: it survives a reconnect, the pty path does not.
    pub link: Option<PathBuf>,
    /// Stop after this many received lines (for benchmarks; `None` serves forever).
    pub max_lines: Option<u64>,
    /// Print one line on stderr for every fault, as it happens.
    pub report_faults: bool,
}

/// What happened to the faults so far, for a log line at the end.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultCount {
    pub lines: u64,
    pub garbled: u64,
    pub dropped: u64,
    pub delayed: u64,
    pub disconnects: u64,
    pub resets: u64,
}

enum Ending {
    Disconnect,
    Done,
}

fn point_link(link: &Path, target: &str) -> std::io::Result<()> {
    let tmp = link.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link)
}

fn pace(bytes: usize, baud: Option<u32>) {
    if let Some(b) = baud {
        std::thread::sleep(Duration::from_secs_f64(bytes as f64 * 10.0 / b as f64));
    }
}

/// Serves on fresh pseudo-terminals until stopped; `ready` gets each slave path.
pub fn serve_pty<I: Instrument>(
    server: &mut WireServer<I>,
    options: &ServeOptions,
    mut ready: impl FnMut(&str),
) -> std::io::Result<FaultCount> {
    let mut count = FaultCount::default();
    let mut rng = seed::rng(options.faults.seed, "wire-faults", &[]);
    loop {
        let (mut master, slave) = TTYPort::pair().map_err(std::io::Error::other)?;
        let name = slave.name().unwrap_or_default();
        if let Some(link) = &options.link {
            point_link(link, &name)?;
        }
        ready(&name);
        master
            .set_timeout(Duration::from_millis(100))
            .map_err(std::io::Error::other)?;
        let ending = serve_stream(&mut master, server, options, &mut count, &mut rng)?;
        drop(master);
        drop(slave);
        match ending {
            Ending::Done => return Ok(count),
            // The "unplugged" adapter comes back a moment later under a new pty.
            Ending::Disconnect => std::thread::sleep(Duration::from_millis(400)),
        }
    }
}

/// Serves on a real port (no disconnect fault there: a port cannot unplug itself).
pub fn serve_port<I: Instrument>(
    server: &mut WireServer<I>,
    path: &str,
    baud: u32,
    options: &ServeOptions,
) -> std::io::Result<FaultCount> {
    let mut port = serialport::new(path, baud)
        .timeout(Duration::from_millis(100))
        .open_native()
        .map_err(|e| std::io::Error::other(format!("{path}: {e}")))?;
    let mut count = FaultCount::default();
    let mut rng = seed::rng(options.faults.seed, "wire-faults", &[]);
    let mut options = options.clone();
    options.faults.disconnect_after = None;
    serve_stream(&mut port, server, &options, &mut count, &mut rng)?;
    Ok(count)
}

fn garble(line: &mut [u8], rng: &mut impl Rng) {
    if line.len() > 1 {
        let k = rng.random_range(0..line.len() - 1);
        line[k] = if line[k] == b'#' { b'%' } else { b'#' };
    }
}

fn serve_stream<S: Read + Write, I: Instrument>(
    port: &mut S,
    server: &mut WireServer<I>,
    options: &ServeOptions,
    count: &mut FaultCount,
    rng: &mut impl Rng,
) -> std::io::Result<Ending> {
    let faults = &options.faults;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = buf.drain(..=pos).collect();
            count.lines += 1;
            let n = count.lines;
            let report = |what: &str| {
                if options.report_faults {
                    eprintln!("fault line {n}: {what}");
                }
            };
            if faults.disconnect_after == Some(n) && count.disconnects == 0 {
                count.disconnects += 1;
                report("disconnect");
                return Ok(Ending::Disconnect);
            }
            if faults.reset_after == Some(n) && count.resets == 0 {
                count.resets += 1;
                report("instrument reset");
                server.reset();
            }
            // A fault hits the request or the reply, half the time each.
            let (drop_in, drop_out) = (rng.random_bool(faults.drop / 2.0), rng.random_bool(faults.drop / 2.0));
            let (garble_in, garble_out) = (
                rng.random_bool(faults.garble / 2.0),
                rng.random_bool(faults.garble / 2.0),
            );
            let delay = rng.random_bool(faults.delay);
            if drop_in {
                count.dropped += 1;
                report("request dropped");
                continue;
            }
            if garble_in {
                count.garbled += 1;
                report("request garbled");
                garble(&mut line, rng);
            }
            let mut reply = server.handle_line(&line).into_bytes();
            if drop_out {
                count.dropped += 1;
                report("reply dropped");
                continue;
            }
            if garble_out {
                count.garbled += 1;
                report("reply garbled");
                garble(&mut reply, rng);
            }
            if delay {
                count.delayed += 1;
                report("reply delayed");
                std::thread::sleep(Duration::from_millis(faults.delay_ms));
            }
            port.write_all(&reply)?;
            pace(reply.len(), options.line_baud);
            if options.max_lines.is_some_and(|m| n >= m) {
                return Ok(Ending::Done);
            }
        }
        if buf.len() > super::frame::MAX_LINE {
            buf.clear();
        }
        match port.read(&mut chunk) {
            Ok(0) => std::thread::sleep(Duration::from_millis(20)),
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // EIO on a pty master: nobody holds the other end right now.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e),
        }
    }
}
