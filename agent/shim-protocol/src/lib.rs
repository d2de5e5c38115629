//! What the agent and the per-pod shim agree on, and nothing else: the request/response
//! protocol over the shim's socket ([`protocol`]) and the frames of an attach connection
//! ([`attach`]), the durable exit records the shim writes and
//! the agent reads ([`exits`]), and the CRI log line format and file naming the shim writes and
//! the agent reads ([`crilog`]). Small on purpose: the shim links it, and the shim's text is
//! its resident set (ARCHITECTURE.md, "The shim stays small").

pub mod attach;
pub mod crilog;
pub mod exits;
pub mod protocol;
