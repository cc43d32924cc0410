//! What the host, claim and pool controllers share around a leadership term: the Event
//! recorder, the wait for leadership and the term that runs until it is lost or shutdown comes,
//! and the drain of a kube-runtime `Controller`'s results into debug logs.

use std::fmt::Display;
use std::future::Future;

use futures::future::{BoxFuture, Shared};
use futures::{Stream, StreamExt};
use kube::runtime::events::Reporter;

use super::events::Recorder;
use kube::runtime::reflector::{Lookup, ObjectRef};
use tracing::{debug, info, warn};

use super::{ControllerError, Leadership};

/// The Event recorder of the controller `component` (`reportingComponent`), as `instance`.
pub(crate) fn recorder(
    client: &kube::Client,
    component: &str,
    instance: Option<String>,
) -> Recorder {
    let reporter = Reporter {
        controller: component.to_owned(),
        instance,
    };
    Recorder::new(client.clone(), reporter)
}

/// Runs `term` for each leadership term until `shutdown` resolves: waits to lead, then runs one
/// term until leadership is lost (and waits again) or the term's stream ends (an error). `what`
/// names the controllers in the log lines, `namespace` the namespace they watch.
pub(crate) async fn while_leading<T: Future<Output = ()>>(
    leadership: &Leadership,
    shutdown: Shared<BoxFuture<'static, ()>>,
    what: &str,
    namespace: Option<&str>,
    mut term: impl FnMut() -> T,
) -> Result<(), ControllerError> {
    let mut leadership = leadership.clone();
    loop {
        tokio::select! {
            () = leadership.acquired() => {}
            () = shutdown.clone() => return Ok(()),
        }
        info!(namespace = ?namespace, "leading: {what} starting");
        tokio::select! {
            () = term() => return Err(ControllerError::StreamEnded),
            () = leadership.lost() => warn!("leadership lost: {what} stopped"),
            () = shutdown.clone() => return Ok(()),
        }
    }
}

/// Consumes a `Controller::run` stream, logging each finished reconcile of a `kind` object and
/// each controller event at debug level.
pub(crate) async fn drain<K, A, E>(
    results: impl Stream<Item = Result<(ObjectRef<K>, A), E>>,
    kind: &'static str,
) where
    K: Lookup + ?Sized,
    E: Display,
{
    results
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => debug!(kind, object = %obj.name, "reconcile finished"),
                Err(error) => debug!(kind, error = %error, "controller event"),
            }
        })
        .await;
}
