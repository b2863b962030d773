//! The byte stream under the Nanonis driver: a TCP connection to the
//! controller, or a test's capture. Blocking, with a deadline on every read,
//! driven from the engine's thread, never from the async runtime.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

pub trait Transport: Send {
    /// Connects (again, after a drop).
    fn open(&mut self) -> std::io::Result<()>;
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// Fills `buf` before `deadline` (a `TimedOut` error past it).
    fn read_exact(&mut self, buf: &mut [u8], deadline: Instant) -> std::io::Result<()>;
    fn close(&mut self);
    fn label(&self) -> String;
}

/// A TCP connection to `host:port`.
pub struct Tcp {
    address: String,
    stream: Option<TcpStream>,
}

impl Tcp {
    pub fn new(address: &str) -> Self {
        Self {
            address: address.to_string(),
            stream: None,
        }
    }
}

fn not_connected() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotConnected, "not connected")
}

impl Transport for Tcp {
    fn open(&mut self) -> std::io::Result<()> {
        self.stream = None;
        let addr = self.address.to_socket_addrs()?.next().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} resolves to nothing", self.address),
            )
        })?;
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        // One small request at a time: no Nagle delay.
        stream.set_nodelay(true)?;
        self.stream = Some(stream);
        Ok(())
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let stream = self.stream.as_mut().ok_or_else(not_connected)?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        stream.write_all(bytes)
    }

    fn read_exact(&mut self, buf: &mut [u8], deadline: Instant) -> std::io::Result<()> {
        let stream = self.stream.as_mut().ok_or_else(not_connected)?;
        let mut filled = 0;
        while filled < buf.len() {
            let now = Instant::now();
            if now >= deadline {
                return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply in time"));
            }
            stream.set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))?;
            match stream.read(&mut buf[filled..]) {
                Ok(0) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "the controller closed the connection",
                    ));
                }
                Ok(n) => filled += n,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn close(&mut self) {
        if let Some(s) = self.stream.take() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn label(&self) -> String {
        format!("Nanonis TCP {}", self.address)
    }
}
