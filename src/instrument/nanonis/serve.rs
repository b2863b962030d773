//! Serving an [`Emulator`] on TCP, one connection at a time (as a client
//! holding one of the controller's ports does), with the faults a real link
//! and controller show: connections dropped without a reply, controller
//! error replies, replies held back.

use super::codec::{self, HEADER};
use super::emulator::Emulator;
use crate::instrument::Instrument;
use rand::Rng;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Faults of the emulated controller and its link.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NanonisFaults {
    /// Drop the connection (no reply) on the Nth command of the session, for
    /// each N here (counted over all connections).
    pub drop_at: Vec<u64>,
    /// Share of commands answered with a controller error, not acted on.
    pub error: f64,
    /// Share of replies held back by `delay_ms`.
    pub delay: f64,
    pub delay_ms: u64,
    pub seed: u64,
}

impl NanonisFaults {
    /// A dropped connection on the 120th command, 5 % error replies and 5 %
    /// replies held back 150 ms: the set the acceptance runs use.
    pub fn standard(seed: u64) -> Self {
        Self {
            drop_at: vec![120],
            error: 0.05,
            delay: 0.05,
            delay_ms: 150,
            seed,
        }
    }
}

/// What the faults did, for a line at the end.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Served {
    pub commands: u64,
    pub dropped: u64,
    pub errors: u64,
    pub delayed: u64,
}

enum Ending {
    /// The client closed the connection.
    Closed,
    /// A fault dropped it.
    Dropped,
}

/// Serves on `listener` until `max_commands` (for benchmarks and tests;
/// `None` serves forever); `on_fault` hears every fault as it happens.
pub fn serve<I: Instrument>(
    listener: &TcpListener,
    emulator: &mut Emulator<I>,
    faults: &NanonisFaults,
    max_commands: Option<u64>,
    mut on_fault: impl FnMut(&str),
) -> std::io::Result<Served> {
    let mut served = Served::default();
    let mut rng = crate::seed::rng(faults.seed, "nanonis-faults", &[]);
    loop {
        let (mut stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        match connection(
            &mut stream,
            emulator,
            faults,
            &mut served,
            &mut rng,
            &mut on_fault,
            max_commands,
        )? {
            Ending::Dropped => {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
            Ending::Closed => {}
        }
        if max_commands.is_some_and(|m| served.commands >= m) {
            return Ok(served);
        }
    }
}

/// Binds `address` (port 0 picks a free one) and says where it listens.
pub fn bind(address: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address)?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

fn connection<I: Instrument>(
    stream: &mut TcpStream,
    emulator: &mut Emulator<I>,
    faults: &NanonisFaults,
    served: &mut Served,
    rng: &mut impl Rng,
    on_fault: &mut impl FnMut(&str),
    max_commands: Option<u64>,
) -> std::io::Result<Ending> {
    loop {
        let mut head = [0u8; HEADER];
        match stream.read_exact(&mut head) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                return Ok(Ending::Closed);
            }
            Err(e) => return Err(e),
        }
        let header = match codec::parse_header(&head) {
            Ok(h) => h,
            // Not a Nanonis client: nothing more can be read in step with it.
            Err(_) => return Ok(Ending::Dropped),
        };
        let mut body = vec![0u8; header.body_len];
        if stream.read_exact(&mut body).is_err() {
            return Ok(Ending::Closed);
        }
        served.commands += 1;
        let n = served.commands;
        if faults.drop_at.contains(&n) {
            // The command is acted on, its reply never sent: the link died
            // after the controller did the work (the worst case for a sweep).
            let _ = emulator.handle(&header.name, &body);
            served.dropped += 1;
            on_fault(&format!("command {n} ({}): connection dropped", header.name));
            return Ok(Ending::Dropped);
        }
        let reply = if rng.random_bool(faults.error) {
            served.errors += 1;
            on_fault(&format!("command {n} ({}): controller error", header.name));
            emulator.fault(&header.name, "simulated controller error: the command was not executed")
        } else {
            emulator.handle(&header.name, &body)
        };
        if rng.random_bool(faults.delay) {
            served.delayed += 1;
            on_fault(&format!("command {n} ({}): reply delayed", header.name));
            std::thread::sleep(Duration::from_millis(faults.delay_ms));
        }
        if header.send_response {
            stream.write_all(&reply)?;
        }
        if max_commands.is_some_and(|m| n >= m) {
            return Ok(Ending::Closed);
        }
    }
}
