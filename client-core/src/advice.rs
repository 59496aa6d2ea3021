//! What a person should do about an API error, in the words of the surface they use.
//!
//! The REST API answers with a stable [`ApiErrorCode`] and a message for whoever calls
//! it with curl. The CLI and the web console do not show that message as it is: each
//! maps the code to a sentence naming its own commands, buttons and settings, and
//! adds the server's detail only where it says something the sentence cannot (which
//! field, which name). The table lives here so that both surfaces read one list and a
//! new code cannot ship without a sentence for each (see the tests).

use crate::api::ApiErrorCode;

/// Who reads the sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Someone at the `tunnel` command line.
    Cli,
    /// Someone in the web console.
    Console,
}

/// Every code the API documents, and the fallback for codes a newer server may send.
pub const ALL_CODES: [ApiErrorCode; 10] = [
    ApiErrorCode::Unauthorized,
    ApiErrorCode::NotFound,
    ApiErrorCode::BadRequest,
    ApiErrorCode::InvalidDomain,
    ApiErrorCode::DomainTaken,
    ApiErrorCode::InvalidPolicy,
    ApiErrorCode::RateLimited,
    ApiErrorCode::PayloadTooLarge,
    ApiErrorCode::Internal,
    ApiErrorCode::Unknown,
];

/// The sentence for `code`, for `audience`.
pub fn sentence(code: ApiErrorCode, audience: Audience) -> &'static str {
    use ApiErrorCode as C;
    match (audience, code) {
        (Audience::Cli, C::Unauthorized) => {
            "the server does not accept this API key: log in with `tunnel auth login`, or get a new key with `tunnel register`"
        }
        (Audience::Cli, C::NotFound) => {
            "not found among yours: `tunnel list` shows your tunnels, `tunnel requests` their requests"
        }
        (Audience::Cli, C::BadRequest) => {
            "the server refused the request as given: check the arguments (`tunnel help <command>`)"
        }
        (Audience::Cli, C::InvalidDomain) => {
            "that name cannot be a domain: use 3-63 lowercase letters, digits and inner hyphens, not a reserved name, e.g. `--domain myapp`"
        }
        (Audience::Cli, C::DomainTaken) => {
            "that domain belongs to another tunnel: choose another with `--domain NAME`, or leave `--domain` out for a random one"
        }
        (Audience::Cli, C::InvalidPolicy) => {
            "that access setting cannot be used: change the one named below (`tunnel policy --help` shows each flag's form)"
        }
        (Audience::Cli, C::RateLimited) => {
            "the server is limiting how often you call it: wait a few seconds and run the command again"
        }
        (Audience::Cli, C::PayloadTooLarge) => {
            "that is larger than the server accepts: send a smaller body"
        }
        (Audience::Cli, C::Internal) => {
            "the server failed: try again; if it keeps failing, its operator will find the cause in the server's log"
        }
        (Audience::Cli, C::Unknown) => {
            "the server answered with an error this version of `tunnel` does not know: update `tunnel`"
        }
        (Audience::Console, C::Unauthorized) => {
            "Your session has ended or the key is not valid. Log in again with your API key."
        }
        (Audience::Console, C::NotFound) => {
            "Not found: it may have been stopped or removed. Go back to Tunnels to see what is there."
        }
        (Audience::Console, C::BadRequest) => {
            "The server could not accept this. Check the fields and try again."
        }
        (Audience::Console, C::InvalidDomain) => {
            "That name cannot be used: 3 to 63 lowercase letters, digits and hyphens, not starting or ending with a hyphen, and not a reserved name."
        }
        (Audience::Console, C::DomainTaken) => {
            "That name belongs to another tunnel. Choose another name, or leave the field empty for a random one."
        }
        (Audience::Console, C::InvalidPolicy) => {
            "That access setting cannot be used. Change the field marked in the form and save again."
        }
        (Audience::Console, C::RateLimited) => {
            "Too many requests just now. Wait a few seconds and try again."
        }
        (Audience::Console, C::PayloadTooLarge) => {
            "That is larger than the server accepts. Make the body smaller and send it again."
        }
        (Audience::Console, C::Internal) => "The server failed. Try again in a moment.",
        (Audience::Console, C::Unknown) => {
            "The server answered with an error this console does not know. Reload the page to get the current console."
        }
    }
}

/// Whether the server's own message adds something the sentence cannot know (the
/// field at fault, the name refused, whose tunnel holds a name), so the surface shows
/// it as a detail.
pub fn shows_detail(code: ApiErrorCode) -> bool {
    matches!(
        code,
        ApiErrorCode::BadRequest
            | ApiErrorCode::InvalidDomain
            | ApiErrorCode::DomainTaken
            | ApiErrorCode::InvalidPolicy
            | ApiErrorCode::PayloadTooLarge
            | ApiErrorCode::NotFound
            | ApiErrorCode::Unknown
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words that belong to one surface and must not reach the other.
    const CLI_ONLY: [&str; 3] = ["`tunnel", "--", "$"];
    const CONSOLE_ONLY: [&str; 3] = ["button", "Log in again", "Reload the page"];
    const REST_ONLY: [&str; 4] = ["Authorization", "Bearer", "/v1/", "header"];

    #[test]
    fn every_code_has_a_sentence_for_each_surface_in_its_terms() {
        for code in ALL_CODES {
            let cli = sentence(code, Audience::Cli);
            let console = sentence(code, Audience::Console);
            assert!(cli.len() > 20 && console.len() > 20, "{code:?}");
            assert_ne!(cli, console, "{code:?}: one sentence for both surfaces");
            // The console shows sentences as text: no CLI syntax, no markdown.
            for w in CLI_ONLY.iter().chain(&REST_ONLY) {
                assert!(
                    !console.contains(w),
                    "{code:?} console: {console:?} has {w:?}"
                );
            }
            assert!(!console.contains('`'), "{code:?}: backticks in the console");
            for w in CONSOLE_ONLY.iter().chain(&REST_ONLY) {
                assert!(!cli.contains(w), "{code:?} cli: {cli:?} has {w:?}");
            }
            // A sentence for a person says what to do, not only what went wrong.
            assert!(
                cli.contains(':'),
                "{code:?}: the CLI sentence gives a next step"
            );
            assert!(console.ends_with('.'), "{code:?}: a console sentence ends");
        }
    }

    #[test]
    fn the_list_holds_every_code() {
        // Exhaustive match: adding a code to ApiErrorCode fails to compile here until
        // it is added to ALL_CODES (and so to the test above).
        for code in ALL_CODES {
            match code {
                ApiErrorCode::Unauthorized
                | ApiErrorCode::NotFound
                | ApiErrorCode::BadRequest
                | ApiErrorCode::InvalidDomain
                | ApiErrorCode::DomainTaken
                | ApiErrorCode::InvalidPolicy
                | ApiErrorCode::RateLimited
                | ApiErrorCode::PayloadTooLarge
                | ApiErrorCode::Internal
                | ApiErrorCode::Unknown => {}
            }
        }
        for (i, a) in ALL_CODES.iter().enumerate() {
            assert!(!ALL_CODES[i + 1..].contains(a), "{a:?} listed twice");
        }
    }
}
