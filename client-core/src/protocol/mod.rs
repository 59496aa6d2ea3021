//! The wire contract between a tunnel client and the server.
//!
//! One session is one WebSocket. The client opens it with CONNECT naming its tunnel; the
//! server answers CONNECTED. From then on the server sends a REQUEST per public HTTP
//! request, numbered by a stream id, and the client answers each with a RESPONSE. Bodies
//! that do not fit in the head frame follow as BODY chunks numbered from 0, the last
//! flagged `fin`. Either side may PING; the other answers PONG. ERROR with a stream id
//! ends that exchange; without one it ends the session. A client that asks for it in
//! CONNECT may get BODY frames as binary messages, and may send them once CONNECTED
//! says `binary` (see [`encode_binary_body`]).
//!
//! Every limit is a named constant in [`limits`].

mod chunks;
mod codec;
mod frames;
mod frames_de;
pub mod limits;
mod tagged;

pub use chunks::{ChunkReader, ChunkWriter, SequenceError};
pub use codec::{
    BINARY_BODY_HEADER_BYTES, BINARY_BODY_TAG, CodecError, HeadError, Message, check_head, decode,
    decode_binary_body, decode_text, encode, encode_binary_body,
};
pub use frames::{BodyChunk, ClientFrame, ErrorCode, ErrorFrame, Headers, ServerFrame, StreamId};
