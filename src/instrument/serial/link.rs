//! The byte link under the serial driver: lines out, lines in with a deadline,
//! and reopening after the device went away. A trait, so transcript tests can
//! stand in for the port.

use crate::instrument::wire::frame::MAX_LINE;
use serialport::{SerialPort, TTYPort};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("no reply before the deadline")]
    Timeout,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub trait Link: Send {
    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()>;
    /// The next whole line (without its `\n`) before `deadline`.
    fn read_line(&mut self, deadline: Instant) -> Result<Vec<u8>, LinkError>;
    /// Closes and opens the device again.
    fn reopen(&mut self) -> std::io::Result<()>;
    /// Drops whatever is buffered (stale replies).
    fn clear_input(&mut self) {}
    fn label(&self) -> String;
}

/// A serial port opened exclusively (TIOCEXCL) and locked with `flock`, as
/// picocom does, so a second console cannot drive the same microscope; both
/// are released when the port is closed.
pub struct SerialLink {
    path: String,
    baud: u32,
    port: Option<TTYPort>,
    buf: Vec<u8>,
}

/// A clear message for the errors people meet opening a port.
fn open_error(path: &str, e: serialport::Error) -> std::io::Error {
    let text = e.to_string();
    let kind = match e.kind() {
        serialport::ErrorKind::Io(k) => k,
        _ => std::io::ErrorKind::Other,
    };
    let why = if text.contains("exclusive lock") || text.contains("Resource busy") || text.contains("EBUSY") {
        format!("{path} is in use by another program (it holds the port's lock); stop it first")
    } else if text.contains("No such file") || text.contains("ENOENT") {
        format!("{path} does not exist (is the adapter plugged in?)")
    } else if text.contains("Permission denied") || text.contains("EACCES") {
        format!("{path}: permission denied (is your user in the dialout group?)")
    } else {
        format!("{path}: {text}")
    };
    std::io::Error::new(kind, why)
}

impl SerialLink {
    pub fn open(path: &str, baud: u32) -> std::io::Result<Self> {
        let mut link = Self {
            path: path.to_string(),
            baud,
            port: None,
            buf: Vec::new(),
        };
        link.reopen()?;
        Ok(link)
    }
}

impl Link for SerialLink {
    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let port = self
            .port
            .as_mut()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotConnected, "port closed"))?;
        port.write_all(line)
    }

    fn read_line(&mut self, deadline: Instant) -> Result<Vec<u8>, LinkError> {
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                return Ok(line);
            }
            if self.buf.len() > MAX_LINE {
                // Garbage without a newline: drop it, the next line starts clean.
                self.buf.clear();
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(LinkError::Timeout);
            }
            let port = self
                .port
                .as_mut()
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotConnected, "port closed"))?;
            port.set_timeout((deadline - now).min(Duration::from_millis(200)))
                .map_err(std::io::Error::other)?;
            match port.read(&mut chunk) {
                // A tty that reads 0 bytes has hung up.
                Ok(0) => {
                    return Err(LinkError::Io(std::io::Error::new(
                        std::io::ErrorKind::BrokenPipe,
                        "the port hung up",
                    )));
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(LinkError::Io(e)),
            }
        }
    }

    fn reopen(&mut self) -> std::io::Result<()> {
        self.port = None;
        self.buf.clear();
        let port = serialport::new(self.path.as_str(), self.baud)
            .timeout(Duration::from_millis(200))
            .open_native()
            .map_err(|e| open_error(&self.path, e))?;
        self.port = Some(port);
        Ok(())
    }

    fn clear_input(&mut self) {
        self.buf.clear();
        if let Some(p) = &self.port {
            let _ = p.clear(serialport::ClearBuffer::Input);
        }
    }

    fn label(&self) -> String {
        format!("{} at {} baud", self.path, self.baud)
    }
}
