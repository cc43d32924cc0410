//! The simulator's own log lines, captured for tests that wait on what the code under test says it
//! did (an agent logging that it skipped a heartbeat proves it went quiet, where a pause would only
//! guess). Each line keeps the instant it was emitted, so a test can compare it with instants it
//! took itself (when a request arrived, say).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, SubscriberExt as _};

/// One captured log line.
#[derive(Clone, Debug)]
pub struct Line {
    /// When it was emitted.
    pub at: Instant,
    /// The constant message.
    pub message: String,
    /// The other fields, as they would print.
    pub fields: BTreeMap<String, String>,
}

impl Line {
    /// The field `name`, or "" when the line has none.
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

/// Every `metal_sim` line at INFO or above, since the capture was installed.
#[derive(Clone)]
pub struct LogBook {
    lines: Arc<Mutex<Vec<Line>>>,
    /// The number of lines captured, announced on every new line.
    count: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Default for LogBook {
    fn default() -> Self {
        LogBook {
            lines: Arc::default(),
            count: Arc::new(tokio::sync::watch::channel(0).0),
        }
    }
}

impl LogBook {
    /// The process-wide book; the first call installs it as the global subscriber. Tests running
    /// side by side in one process share it, so they tell their lines apart by a field (a host
    /// name of their own).
    pub fn global() -> LogBook {
        static BOOK: OnceLock<LogBook> = OnceLock::new();
        BOOK.get_or_init(|| {
            let book = LogBook::default();
            let only_ours = Targets::new().with_target("metal_sim", Level::INFO);
            let subscriber =
                tracing_subscriber::registry().with(book.clone().with_filter(only_ours));
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in this test binary");
            book
        })
        .clone()
    }

    /// The lines captured so far.
    pub fn lines(&self) -> Vec<Line> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The first line with `message` whose field `key` is `value`, waiting for it at most `limit`.
    pub async fn wait_for(&self, message: &str, key: &str, value: &str, limit: Duration) -> Line {
        let mut added = self.count.subscribe();
        let look = async {
            loop {
                let found = self
                    .lines()
                    .into_iter()
                    .find(|l| l.message == message && l.field(key) == value);
                if let Some(line) = found {
                    return line;
                }
                // Woken by the next captured line (the sender lives as long as the book).
                if added.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        match tokio::time::timeout(limit, look).await {
            Ok(line) => line,
            Err(_) => panic!("no log line {message:?} with {key}={value} within {limit:?}"),
        }
    }
}

struct Fields<'a>(&'a mut Line);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record(field, format!("{value:?}"));
    }
}

impl Fields<'_> {
    fn record(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.0.message = value;
        } else {
            self.0.fields.insert(field.name().to_owned(), value);
        }
    }
}

impl<S: Subscriber> Layer<S> for LogBook {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut line = Line {
            at: Instant::now(),
            message: String::new(),
            fields: BTreeMap::new(),
        };
        event.record(&mut Fields(&mut line));
        let total = {
            let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
            lines.push(line);
            lines.len()
        };
        self.count.send_replace(total);
    }
}
