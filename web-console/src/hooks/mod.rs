//! Custom hooks: the logged-in session, the API, timers, the tunnel list and the
//! inspector (each a reducer with the effects that feed it).

mod auth;
mod inspector;
mod interval;
mod tunnels;

pub use auth::{AuthAction, AuthContext, AuthState, use_api, use_auth, use_auth_provider};
pub use inspector::{
    Detail, Inspector, InspectorAction, InspectorState, LIST_CAP, PAGE_SIZE, ReplayView,
    use_inspector,
};
pub use interval::use_interval;
pub use tunnels::{TunnelsAction, TunnelsState, use_tunnels};
