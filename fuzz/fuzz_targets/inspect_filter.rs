//! `Filter::from_query` on any query string: an error or a filter, never a panic; a
//! filter written back with `to_query` reads back the same; and matching any list
//! line does not panic.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use client_core::inspect::{ExchangeSummary, Filter, Outcome};
use libfuzzer_sys::fuzz_target;

fn summary(u: &mut Unstructured<'_>) -> arbitrary::Result<ExchangeSummary> {
    Ok(ExchangeSummary {
        request_id: String::arbitrary(u)?,
        tunnel_id: String::arbitrary(u)?,
        replay_of: Option::arbitrary(u)?,
        inbox_of: Option::arbitrary(u)?,
        method: String::arbitrary(u)?,
        path: String::arbitrary(u)?,
        status: Option::arbitrary(u)?,
        outcome: Outcome::ALL[usize::from(u8::arbitrary(u)?) % Outcome::ALL.len()],
        received_ms: u64::arbitrary(u)?,
        duration_ms: Option::arbitrary(u)?,
        request_size: u64::arbitrary(u)?,
        response_size: Option::arbitrary(u)?,
    })
}

fuzz_target!(|data: &[u8]| {
    // The query is the text up to the first NUL; what follows shapes a list line.
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let Ok(query) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let Ok(filter) = Filter::from_query(query) else {
        return;
    };
    let written = filter.to_query();
    assert_eq!(written.is_empty(), filter.is_empty());
    assert_eq!(
        Filter::from_query(&written).as_ref(),
        Ok(&filter),
        "{written}"
    );
    let mut u = Unstructured::new(&data[split..]);
    if let Ok(line) = summary(&mut u) {
        let _ = filter.matches_summary(&line);
        if filter.is_empty() {
            assert!(filter.matches_summary(&line));
        }
    }
});
