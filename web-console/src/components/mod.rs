//! Building blocks of the pages.

mod body_view;
mod copy_button;
mod create_tunnel;
mod exchange_detail;
mod feedback;
mod field;
mod filter_bar;
mod headers_table;
mod layout;
mod policy_editor;
mod replay_form;
mod request_list;
mod tunnel_table;

pub use body_view::BodyPanel;
pub use copy_button::CopyButton;
pub use create_tunnel::CreateTunnelForm;
pub use exchange_detail::ExchangeDetail;
pub use feedback::{EmptyState, ErrorBox, Loading};
pub use filter_bar::FilterBar;
pub use headers_table::HeadersTable;
pub use layout::Layout;
pub use policy_editor::PolicyEditor;
pub use replay_form::ReplayForm;
pub use request_list::RequestList;
pub use tunnel_table::TunnelTable;
