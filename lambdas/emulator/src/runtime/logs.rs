//! A child's stdout and stderr, line by line, to the emulator's stderr.
//!
//! Lambda sends a function's output to CloudWatch Logs; here each line goes to stderr
//! prefixed with the instance (`[name#3] ...`), so the output of several functions and
//! instances stays readable when interleaved.

use std::io::Write;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// The longest line kept whole. A longer one (or output with no newline at all) is
/// cut into pieces of this size, so memory stays bounded whatever the child writes.
pub(crate) const MAX_LINE_BYTES: usize = 16 * 1024;

/// Forwards `reader` to the process's stderr until end of file.
pub(crate) async fn forward_to_stderr(reader: impl AsyncRead + Unpin, label: String) {
    let prefix = format!("[{label}]");
    forward(reader, &prefix, |line| {
        // A failed write to our own stderr has nowhere better to be reported.
        let _ = std::io::stderr().lock().write_all(line);
    })
    .await;
}

/// Reads `reader` line by line and hands each line, prefixed and newline-terminated,
/// to `out`.
pub(crate) async fn forward(
    reader: impl AsyncRead + Unpin,
    prefix: &str,
    mut out: impl FnMut(&[u8]),
) {
    let mut reader = BufReader::new(reader);
    let mut line: Vec<u8> = Vec::with_capacity(256);
    let mut emit = |line: &mut Vec<u8>| {
        let text = line.strip_suffix(b"\r").unwrap_or(line);
        let formatted = format!("{prefix} {}\n", String::from_utf8_lossy(text));
        out(formatted.as_bytes());
        line.clear();
    };
    loop {
        let buf = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(buf) => buf,
        };
        let newline = buf.iter().position(|&b| b == b'\n');
        let content = newline.unwrap_or(buf.len());
        let room = MAX_LINE_BYTES - line.len();
        if content <= room {
            line.extend_from_slice(&buf[..content]);
            match newline {
                Some(_) => {
                    reader.consume(content + 1);
                    emit(&mut line);
                }
                None => reader.consume(content),
            }
        } else {
            line.extend_from_slice(&buf[..room]);
            reader.consume(room);
            emit(&mut line);
        }
    }
    if !line.is_empty() {
        emit(&mut line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(input: Vec<u8>) -> Vec<String> {
        let mut lines = Vec::new();
        forward(&input[..], "[f#1]", |l| {
            lines.push(String::from_utf8(l.to_vec()).unwrap());
        })
        .await;
        lines
    }

    #[tokio::test]
    async fn lines_are_prefixed() {
        let lines = lines_of(b"one\r\ntwo\nlast".to_vec()).await;
        assert_eq!(lines, ["[f#1] one\n", "[f#1] two\n", "[f#1] last\n"]);
    }

    #[tokio::test]
    async fn a_long_line_is_cut_not_buffered() {
        let mut input = vec![b'x'; MAX_LINE_BYTES * 2 + 10];
        input.extend_from_slice(b"\nnext\n");
        let lines = lines_of(input).await;
        assert_eq!(lines.len(), 4);
        let prefix = "[f#1] ".len();
        assert_eq!(lines[0].len(), prefix + MAX_LINE_BYTES + 1);
        assert_eq!(lines[1].len(), prefix + MAX_LINE_BYTES + 1);
        assert_eq!(lines[2], format!("[f#1] {}\n", "x".repeat(10)));
        assert_eq!(lines[3], "[f#1] next\n");
    }

    #[tokio::test]
    async fn invalid_utf8_is_replaced() {
        let lines = lines_of(vec![b'a', 0xff, b'\n']).await;
        assert_eq!(lines, ["[f#1] a\u{fffd}\n"]);
    }
}
