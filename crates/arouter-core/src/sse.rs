//! A buffering Server-Sent Events decoder: events split across network chunks at any byte
//! (even inside a UTF-8 sequence or a CRLF pair) come out whole.

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
        self.buf.extend_from_slice(chunk);
        loop {
            let rest = &self.buf[self.pos..];
            let Some(nl) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
                break;
            };
            let line_end = self.pos + nl;
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
            self.line(&line, out);
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
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
