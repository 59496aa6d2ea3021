//! The web console. Its Yew app is not written yet; the crate exists so the workspace
//! has its final shape and so the console's dependency on `client-core` is checked.

pub use client_core as core;
