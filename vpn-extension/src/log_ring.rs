//! The extension's recent log lines, kept in memory so `vpn-app logs` can
//! show them over the control channel, wherever the process's stderr went
//! (a file, the journal, nowhere under launchd).

use std::{
    collections::VecDeque,
    io::{self, Write},
    sync::{Arc, Mutex},
};

/// Installs the extension's logging: stderr, and the last `capacity`
/// lines kept for `vpn-app logs`. `VPN_LOG` filters (default: info).
pub fn install_logging(capacity: usize) -> LogRing {
    use std::io::IsTerminal;
    use tracing_subscriber::{filter::Targets, layer::SubscriberExt, util::SubscriberInitExt};

    let filter: Targets = std::env::var("VPN_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let logs = LogRing::new(capacity);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(logs.clone())
                .with_ansi(false),
        )
        .with(filter)
        .init();
    logs
}

#[derive(Clone)]
pub struct LogRing {
    lines: Arc<Mutex<VecDeque<String>>>,
    capacity: usize,
}

impl LogRing {
    pub fn new(capacity: usize) -> Self {
        Self {
            lines: Arc::new(Mutex::new(VecDeque::with_capacity(capacity))),
            capacity,
        }
    }

    fn push(&self, line: &str) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == self.capacity {
            lines.pop_front();
        }
        lines.push_back(line.to_string());
    }

    /// The last `count` lines, oldest first.
    pub fn tail(&self, count: usize) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines
            .iter()
            .skip(lines.len().saturating_sub(count))
            .cloned()
            .collect()
    }
}

/// One formatted event on its way into the ring.
pub struct RingWriter {
    ring: LogRing,
    buffer: Vec<u8>,
}

impl Write for RingWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for RingWriter {
    fn drop(&mut self) {
        for line in String::from_utf8_lossy(&self.buffer).lines() {
            if !line.is_empty() {
                self.ring.push(line);
            }
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogRing {
    type Writer = RingWriter;

    fn make_writer(&'a self) -> RingWriter {
        RingWriter {
            ring: self.clone(),
            buffer: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_lines_in_order() {
        let ring = LogRing::new(3);
        for i in 0..5 {
            let mut writer = tracing_subscriber::fmt::MakeWriter::make_writer(&ring);
            writeln!(writer, "line {i}").unwrap();
        }
        assert_eq!(ring.tail(10), ["line 2", "line 3", "line 4"]);
        assert_eq!(ring.tail(1), ["line 4"]);
    }
}
