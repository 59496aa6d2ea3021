use client_core::inspect::REDACTED;
use yew::prelude::*;

/// Props of [`HeadersTable`].
#[derive(Debug, Properties, PartialEq)]
pub struct HeadersTableProps {
    /// Header lines in order.
    pub headers: Vec<(String, String)>,
}

/// Header lines, with masked credentials marked as such.
#[component]
pub fn HeadersTable(props: &HeadersTableProps) -> Html {
    if props.headers.is_empty() {
        return html! { <p class="muted">{ "No headers." }</p> };
    }
    html! {
        <table class="kv mono">
            <tbody>
                { for props.headers.iter().map(|(name, value)| html! {
                    <tr>
                        <th scope="row">{ name.clone() }</th>
                        if value == REDACTED {
                            <td><span class="badge redacted" data-testid="redacted"
                                title="The server masked this credential when it captured the request">
                                { "redacted" }</span></td>
                        } else {
                            <td>{ value.clone() }</td>
                        }
                    </tr>
                }) }
            </tbody>
        </table>
    }
}
