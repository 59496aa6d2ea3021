//! CREDIT: response chunks held for want of it and let go in order.

use super::*;

#[test]
fn response_chunks_wait_for_credit_and_resume_in_order() {
    let mut s = connected_with(MIN_CHUNK_BYTES, 2);
    s.handle_frame(S, request(9, b"", true));
    events(&mut s);
    // Head inline chunk + 5 BODY chunks (seq 0..=4); only seq 0 and 1 fit the window.
    let body = vec![1u8; MIN_CHUNK_BYTES * 6];
    s.respond(9, 200, vec![], &body, true).unwrap();
    let seqs = |frames: &[ClientFrame]| -> Vec<u32> {
        frames
            .iter()
            .filter_map(|f| match f {
                ClientFrame::Body(c) => Some(c.seq),
                _ => None,
            })
            .collect()
    };
    let first = sent(&mut s);
    assert!(matches!(first[0], ClientFrame::Response { .. }));
    assert_eq!(seqs(&first), [0, 1]);
    assert_eq!(s.held_bytes(9), 3 * MIN_CHUNK_BYTES);
    assert_eq!(s.held_total(), 3 * MIN_CHUNK_BYTES);
    s.handle_frame(S, ServerFrame::Credit { id: 9, up_to: 1 });
    assert!(sent(&mut s).is_empty(), "stale credit releases nothing");
    s.handle_frame(S, ServerFrame::Credit { id: 9, up_to: 4 });
    assert_eq!(seqs(&sent(&mut s)), [2, 3]);
    assert_eq!(s.open_streams(), 1, "not done while chunks are held");
    s.handle_frame(S, ServerFrame::Credit { id: 9, up_to: 100 });
    let last = sent(&mut s);
    assert_eq!(seqs(&last), [4]);
    assert!(matches!(last.last(), Some(ClientFrame::Body(c)) if c.fin));
    assert_eq!(s.open_streams(), 0);
    assert_eq!(s.held_bytes(9), 0);
}

#[test]
fn without_a_window_nothing_is_held() {
    let mut s = connected(MIN_CHUNK_BYTES);
    s.handle_frame(S, request(10, b"", true));
    events(&mut s);
    s.respond(10, 200, vec![], &vec![0u8; MIN_CHUNK_BYTES * 40], true)
        .unwrap();
    assert_eq!(sent(&mut s).len(), 40);
    assert_eq!(s.held_bytes(10), 0);
}
