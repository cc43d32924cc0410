//! kubectl as a user runs it (from `metal_testkit::kubectl`): a kubeconfig, arguments, optional
//! stdin; bounded in time; stdout returned, stderr in the error.

pub use metal_testkit::kubectl::{Kubectl, kubectl};
