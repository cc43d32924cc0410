//! The operating system a simulated machine boots from its disk, as far as a Kubernetes node image
//! goes: cloud-init reads the config drive the deploy wrote beside the image, sets the hostname and
//! writes the files its user data names; a kubelet, when the image is a node image and cloud-init
//! left it a kubeconfig, registers a Node and keeps it Ready while the machine runs.
//!
//! Pure: [`configdrive`] (what Ironic handed the agent → a [`ConfigDrive`], with [`iso9660`] for the
//! ISO real Ironic builds), [`cloudinit`] (config drive → hostname and files) and [`kubelet`] (files →
//! the Node to register and its objects). The shell that follows the machines and talks to the
//! workload cluster is [`runner`], started by `metal-sim serve`.

pub mod cloudinit;
pub mod configdrive;
pub mod iso9660;
pub mod kubelet;
pub mod runner;

pub use configdrive::ConfigDrive;
pub use runner::{GuestSettings, GuestStatus, Guests, KubeletState};
