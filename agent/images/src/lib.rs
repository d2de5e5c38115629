//! nodelet's image handling: references, registry pulls, the content store, safe layer
//! unpacking, overlayfs root filesystems, offline import, pull policy, the image-config merge
//! and the image CLI commands.

pub mod auth;
pub mod cli;
pub mod digest;
pub mod error;
pub mod gc;
pub mod import;
pub mod lock;
pub mod manifest;
pub mod platform;
pub mod policy;
pub mod process;
pub mod pull;
pub mod records;
pub mod reference;
pub mod registry;
pub mod rootfs;
pub mod store;
pub mod tls;
pub mod unpack;

pub use digest::Digest;
pub use error::{ImageError, RegistryFailure};
pub use platform::Platform;
pub use policy::{PullBackoff, PullPolicy};
pub use pull::{ImageService, NoProgress, Progress, PullEvent, PullFailure};
pub use records::ImageRecord;
pub use reference::ImageRef;
pub use registry::RegistryConfig;
pub use store::Store;
