//! A buffering Server-Sent Events decoder: events split across network chunks at any byte
//! (even inside a UTF-8 sequence or a CRLF pair) come out whole. Each byte is scanned once,
//! however the stream is chunked, and a line or event larger than [`MAX_LINE`] is dropped
//! (and counted) instead of growing the buffer without bound.

/// The longest line or event kept (a base64 image in one event fits; a hostile endless line
/// does not).
pub const MAX_LINE: usize = 32 << 20;

/// One decoded SSE event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// Incremental decoder. Feed bytes with [`SseDecoder::push`], collect events; call
/// [`SseDecoder::finish`] at end of stream for a final event without a blank line.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// Offset in `buf` up to which complete lines were consumed.
    pos: usize,
    event: Option<String>,
    data: String,
    has_data: bool,
    /// A line ended in '\r' at the end of the last chunk: a following '\n' belongs to it.
    skip_lf: bool,
    /// Offset in `buf` up to which the pending line was searched for its end already.
    scanned: usize,
    /// Inside an over-long line: bytes are dropped up to its end.
    discarding: bool,
    /// Lines or events dropped for being longer than [`MAX_LINE`].
    dropped: u64,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes a chunk and appends every completed event to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) {
        let mut chunk = chunk;
        if self.skip_lf && !chunk.is_empty() {
            self.skip_lf = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        if self.discarding {
            match chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    self.discarding = false;
                    let cr = chunk[end] == b'\r';
                    chunk = &chunk[end + 1..];
                    if cr {
                        match chunk.first() {
                            Some(b'\n') => chunk = &chunk[1..],
                            Some(_) => {}
                            None => self.skip_lf = true,
                        }
                    }
                }
                None => return,
            }
        }
        self.buf.extend_from_slice(chunk);
        loop {
            let from = self.scanned.max(self.pos);
            let Some(nl) = self.buf[from..]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
            else {
                self.scanned = self.buf.len();
                break;
            };
            let line_end = from + nl;
            let mut next = line_end + 1;
            if self.buf[line_end] == b'\r' {
                match self.buf.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            let line = String::from_utf8_lossy(&self.buf[self.pos..line_end]).into_owned();
            self.pos = next;
            self.scanned = next;
            self.line(&line, out);
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.scanned -= self.pos;
            self.pos = 0;
        }
        if self.buf.len() > MAX_LINE {
            self.buf.clear();
            self.scanned = 0;
            self.discarding = true;
            // The event the line belonged to is dropped whole, not sent half.
            self.data = String::new();
            self.has_data = false;
            self.event = None;
            self.overlong("line");
        }
    }

    /// Lines or events dropped so far for being longer than [`MAX_LINE`].
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn overlong(&mut self, what: &str) {
        self.dropped += 1;
        tracing::warn!("SSE {what} longer than {MAX_LINE} bytes dropped");
    }

    /// Ends the stream: a pending event that was not terminated by a blank line is emitted.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.buf.is_empty() {
            let line = String::from_utf8_lossy(&self.buf).into_owned();
            self.buf.clear();
            self.line(&line, out);
        }
        self.dispatch(out);
    }

    fn line(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.data.len() + value.len() >= MAX_LINE {
                    // An event growing past the limit: its data so far is dropped too.
                    self.data = String::new();
                    self.has_data = false;
                    self.overlong("event");
                    return;
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_string()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(SseEvent {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
            });
        }
        self.event = None;
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_split(input: &[u8], splits: &[usize]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        let mut last = 0;
        for &s in splits {
            d.push(&input[last..s], &mut out);
            last = s;
        }
        d.push(&input[last..], &mut out);
        d.finish(&mut out);
        out
    }

    const STREAM: &str = "event: message_start\ndata: {\"a\":\"h\u{e9}llo \u{1F600}\"}\n\n: keepalive\r\n\r\ndata: line1\r\ndata: line2\r\n\r\nevent: ping\ndata:{}\n\ndata: [DONE]\n\n";

    #[test]
    fn every_two_way_byte_split_gives_the_same_events() {
        let input = STREAM.as_bytes();
        let whole = decode_split(input, &[]);
        assert_eq!(whole.len(), 4);
        assert_eq!(whole[0].event.as_deref(), Some("message_start"));
        assert_eq!(whole[0].data, "{\"a\":\"h\u{e9}llo \u{1F600}\"}");
        assert_eq!(whole[1].data, "line1\nline2");
        assert_eq!(whole[2].event.as_deref(), Some("ping"));
        assert_eq!(whole[3].data, "[DONE]");
        for i in 0..=input.len() {
            for j in i..=input.len() {
                assert_eq!(decode_split(input, &[i, j]), whole, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn byte_by_byte() {
        let input = STREAM.as_bytes();
        let splits: Vec<usize> = (1..input.len()).collect();
        assert_eq!(decode_split(input, &splits), decode_split(input, &[]));
    }

    /// A long line in many small chunks is scanned once (it used to be rescanned from its
    /// start on every chunk), and an endless line is dropped at the limit.
    #[test]
    fn long_lines_are_linear_and_bounded() {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        d.push(b"data: ", &mut out);
        let piece = vec![b'x'; 1024];
        let t = std::time::Instant::now();
        for _ in 0..4096 {
            d.push(&piece, &mut out);
        }
        d.push(b"\n\n", &mut out);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.len(), 4 << 20);

        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        let big = vec![b'y'; 1 << 20];
        for _ in 0..(MAX_LINE >> 20) + 2 {
            d.push(&big, &mut out);
            assert!(d.buf.len() <= MAX_LINE + big.len());
        }
        d.push(b"\r", &mut out);
        d.push(b"\ndata: after\r\n\r\n", &mut out);
        assert_eq!(d.dropped(), 1);
        assert_eq!(
            out,
            vec![SseEvent {
                event: None,
                data: "after".into()
            }]
        );
    }

    #[test]
    fn unterminated_final_event_is_emitted_on_finish() {
        assert_eq!(
            decode_split(b"data: x", &[]),
            vec![SseEvent {
                event: None,
                data: "x".into()
            }]
        );
    }
}
