//! One component per route.

mod inspector;
mod login;
mod not_found;
mod tunnels;

pub use inspector::InspectorPage;
pub use login::LoginPage;
pub use not_found::NotFoundPage;
pub use tunnels::TunnelsPage;
