//! This process's own log, captured to a file while a run lasts: with our operator running in
//! this process (and the fleet's fakes, the mock Ironic and the control plane beside it), its log
//! is this process's, so a run that wants to judge what was logged (`metal-sim chaos` searches it
//! for credentials) points the capture at a file for the run's duration.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use tracing_subscriber::fmt::MakeWriter;

/// What the capture layer records: every level of the project's own crates, `info` of the rest
/// (the HTTP and Kubernetes client stacks' `debug` would drown the file).
pub const CAPTURE_FILTER: &str = "info,metal_operator=debug,metal_core=debug,metal_sim=debug,metal_wire=debug,metal_controlplane=debug,metal_scenario=debug";

/// A `tracing` writer that appends each event to the current file, or drops it when there is
/// none. Cloned into the subscriber once; [`LogCapture::to`] and [`LogCapture::stop`] switch it.
#[derive(Clone, Default)]
pub struct LogCapture {
    file: Arc<Mutex<Option<File>>>,
}

impl LogCapture {
    fn lock(&self) -> MutexGuard<'_, Option<File>> {
        // A panic while writing leaves at worst a partial line: the file is still usable.
        self.file.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// From now on, events go to `path` (created, or emptied).
    pub fn to(&self, path: &Path) -> io::Result<()> {
        let file = File::create(path)?;
        *self.lock() = Some(file);
        Ok(())
    }

    /// From now on, events are dropped; the file is closed.
    pub fn stop(&self) {
        *self.lock() = None;
    }
}

/// One event's text, written to the file in one piece when the event is done.
pub struct EventWriter {
    capture: LogCapture,
    buf: Vec<u8>,
}

impl Write for EventWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if let Some(file) = self.capture.lock().as_mut() {
            // A log line that cannot be written is not worth failing the logged operation for.
            let _ = file.write_all(&self.buf);
        }
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter {
            capture: self.clone(),
            buf: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt as _;

    #[test]
    fn events_reach_the_file_only_while_the_capture_points_at_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.log");
        let capture = LogCapture::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(capture.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("before the run");
            capture.to(&path).expect("capture");
            tracing::info!(host = "h-0", "during the run");
            capture.stop();
            tracing::info!("after the run");
        });
        let text = std::fs::read_to_string(&path).expect("log");
        assert!(
            text.contains("during the run") && text.contains("h-0"),
            "{text}"
        );
        assert!(
            !text.contains("before") && !text.contains("after"),
            "{text}"
        );
    }
}
