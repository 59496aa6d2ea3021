//! The request body the origin reads: the REQUEST frame's bytes, then what the driver
//! passes on under backpressure, ended or cut.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// The public client's upload ended before its last byte: the origin's request is
/// aborted rather than ended, so a cut body never looks complete to the origin.
#[derive(Debug, thiserror::Error)]
#[error("the public client's upload was cut off before its end")]
pub(crate) struct UploadCut;

/// A request body that starts with the bytes of the REQUEST frame and goes on with
/// what the driver passes through a bounded channel, so a slow origin slows the
/// driver instead of filling memory.
#[derive(Debug)]
pub(crate) struct ForwardBody {
    first: Bytes,
    rest: Option<mpsc::Receiver<Bytes>>,
    complete: Arc<AtomicBool>,
}

/// The driver's end of a [`ForwardBody`]: pieces go in through [`Self::sender`];
/// [`Self::finish`] ends the body. Dropped without `finish` (the exchange ended
/// before the upload did) it cuts the body: the origin sees an aborted request.
#[derive(Debug)]
pub(crate) struct BodySender {
    tx: mpsc::Sender<Bytes>,
    complete: Arc<AtomicBool>,
}

impl BodySender {
    /// Where the next pieces go.
    pub(crate) fn sender(&self) -> &mpsc::Sender<Bytes> {
        &self.tx
    }

    /// The body is complete: the origin reads what is queued, then its end.
    pub(crate) fn finish(self) {
        self.complete.store(true, Ordering::Release);
    }
}

impl ForwardBody {
    /// A body that is `first` and nothing more.
    pub(crate) fn whole(first: Bytes) -> Self {
        Self {
            first,
            rest: None,
            complete: Arc::new(AtomicBool::new(true)),
        }
    }

    /// A body that is `first` and whatever the returned sender passes on, `buffer`
    /// pieces at most waiting, until it is finished (or dropped: then cut).
    pub(crate) fn streamed(first: Bytes, buffer: usize) -> (Self, BodySender) {
        let (tx, rx) = mpsc::channel(buffer);
        let complete = Arc::new(AtomicBool::new(false));
        let body = Self {
            first,
            rest: Some(rx),
            complete: complete.clone(),
        };
        (body, BodySender { tx, complete })
    }

    /// The receiving end of the rest, for an upgrade: the public client's bytes after
    /// the origin's 101, not a request body.
    pub(crate) fn take_rest(&mut self) -> Option<mpsc::Receiver<Bytes>> {
        self.rest.take()
    }
}

impl Body for ForwardBody {
    type Data = Bytes;
    type Error = UploadCut;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, UploadCut>>> {
        if !self.first.is_empty() {
            let first = std::mem::take(&mut self.first);
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        let complete = self.complete.clone();
        match &mut self.rest {
            None => Poll::Ready(None),
            Some(rest) => rest.poll_recv(cx).map(|next| match next {
                Some(data) => Some(Ok(Frame::data(data))),
                // The sender is gone: finished (set before the drop), or cut.
                None if complete.load(Ordering::Acquire) => None,
                None => Some(Err(UploadCut)),
            }),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_empty() && self.rest.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.rest {
            None => SizeHint::with_exact(self.first.len() as u64),
            Some(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    #[tokio::test]
    async fn a_finished_body_ends_and_a_dropped_one_is_cut() {
        let (body, tx) = ForwardBody::streamed(Bytes::from_static(b"a"), 4);
        tx.sender().send(Bytes::from_static(b"b")).await.unwrap();
        tx.finish();
        let whole = body.collect().await.unwrap().to_bytes();
        assert_eq!(&whole[..], b"ab");

        // The exchange ended before the upload did: the origin must not take what it
        // got for the whole body.
        let (mut body, tx) = ForwardBody::streamed(Bytes::from_static(b"a"), 4);
        tx.sender().send(Bytes::from_static(b"b")).await.unwrap();
        drop(tx);
        assert_eq!(
            body.frame().await.unwrap().unwrap().into_data().unwrap(),
            "a"
        );
        assert_eq!(
            body.frame().await.unwrap().unwrap().into_data().unwrap(),
            "b"
        );
        assert!(matches!(body.frame().await, Some(Err(UploadCut))));

        let whole = ForwardBody::whole(Bytes::from_static(b"held"));
        assert_eq!(whole.size_hint().exact(), Some(4));
        assert_eq!(&whole.collect().await.unwrap().to_bytes()[..], b"held");
    }
}
