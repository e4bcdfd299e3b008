//! A raw file's bytes as a stream: inflated as they come when gzip, without a byte-order mark,
//! and watched as they pass (where the line breaks are, whether anything but whitespace came,
//! why the stream failed), so a file of any size is read in bounded memory.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::rc::Rc;

use encoding_rs::{CoderResult, Decoder, Encoding, UTF_8};

use super::MAX_LINE_BYTES;

const DECODE_BUFFER_BYTES: usize = 64 << 10;

const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// What a file's bytes showed as they were read.
#[derive(Debug)]
pub(super) struct Seen {
    /// Line breaks read but not yet passed by [`Seen::line_at`]: offset, and whether it is a
    /// `\n` (else a `\r`).
    breaks: VecDeque<(u64, bool)>,
    /// The line of the last offset asked.
    line: u64,
    /// No byte but whitespace so far.
    pub(super) whitespace_only: bool,
    /// Why the stream failed, in the user's terms, when it did (a broken gzip, a bomb).
    pub(super) failure: Option<String>,
}

impl Seen {
    fn new() -> Self {
        Self {
            breaks: VecDeque::new(),
            line: 1,
            whitespace_only: true,
            failure: None,
        }
    }

    /// The physical line of the first byte at or after `offset` that is not a line break
    /// (offsets are asked in increasing order, and only of bytes already read). In a CRLF file
    /// the csv crate starts a record at the `\n` ending the one before; the record's line is
    /// that of its first byte that is not a line break.
    pub(super) fn line_at(&mut self, offset: u64) -> u64 {
        while let Some(&(at, newline)) = self.breaks.front() {
            if at >= offset {
                break;
            }
            self.line += u64::from(newline);
            self.breaks.pop_front();
        }
        let mut next = offset;
        while let Some(&(at, newline)) = self.breaks.front() {
            if at != next {
                break;
            }
            self.line += u64::from(newline);
            self.breaks.pop_front();
            next += 1;
        }
        self.line
    }
}

/// A file's bytes, watched as they pass.
pub(super) struct Watched<'a> {
    inner: Box<dyn Read + 'a>,
    position: u64,
    /// `\n` read so far.
    newlines: u64,
    /// Bytes since the last line break.
    line_bytes: u64,
    seen: Rc<RefCell<Seen>>,
}

impl<'a> Watched<'a> {
    /// The bytes of `file` as its name says they are stored (`.gz`: gzip, inflated on the
    /// way, up to `max_inflated` bytes), without a byte-order mark, and what was seen of them.
    /// Text of another `encoding` than UTF-8 is transcoded to UTF-8 on the way (a byte-order
    /// mark overriding it), so positions and lines are counted in the text read.
    pub(super) fn open(
        file: &str,
        bytes: Box<dyn Read + 'a>,
        max_inflated: u64,
        encoding: &'static Encoding,
    ) -> (Self, Rc<RefCell<Seen>>) {
        let seen = Rc::new(RefCell::new(Seen::new()));
        let inflated: Box<dyn Read + 'a> = if file.ends_with(".gz") {
            Box::new(Inflated {
                decoder: flate2::read::MultiGzDecoder::new(bytes),
                inflated: 0,
                limit: max_inflated,
                seen: Rc::clone(&seen),
            })
        } else {
            bytes
        };
        let text: Box<dyn Read + 'a> = if encoding == UTF_8 {
            Box::new(WithoutMark {
                inner: inflated,
                head: None,
            })
        } else {
            Box::new(Decoded {
                inner: inflated,
                decoder: encoding.new_decoder(),
                input: vec![0; DECODE_BUFFER_BYTES],
                start: 0,
                end: 0,
                state: DecodeState::Reading,
            })
        };
        let watched = Self {
            inner: text,
            position: 0,
            newlines: 0,
            line_bytes: 0,
            seen: Rc::clone(&seen),
        };
        (watched, seen)
    }
}

impl Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        let bytes = &buf[..read];
        let mut seen = self.seen.borrow_mut();
        let mut line_start = None;
        for at in memchr::memchr2_iter(b'\n', b'\r', bytes) {
            let newline = bytes[at] == b'\n';
            seen.breaks.push_back((self.position + at as u64, newline));
            self.newlines += u64::from(newline);
            line_start = Some(at + 1);
        }
        // A line is parsed whole, so one without end would be held whole: refuse it.
        self.line_bytes = match line_start {
            Some(start) => (read - start) as u64,
            None => self.line_bytes + read as u64,
        };
        if self.line_bytes > MAX_LINE_BYTES {
            let reason = format!(
                "line {} is longer than {MAX_LINE_BYTES} bytes; lakejob reads lines of up to that",
                self.newlines + 1
            );
            seen.failure = Some(reason.clone());
            return Err(io::Error::other(reason));
        }
        if seen.whitespace_only {
            seen.whitespace_only = bytes.iter().all(u8::is_ascii_whitespace);
        }
        self.position += read as u64;
        Ok(read)
    }
}

/// Inflates gzip as it is read, up to `limit` bytes.
struct Inflated<'a> {
    decoder: flate2::read::MultiGzDecoder<Box<dyn Read + 'a>>,
    inflated: u64,
    limit: u64,
    seen: Rc<RefCell<Seen>>,
}

impl Read for Inflated<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.decoder.read(buf).inspect_err(|e| {
            self.seen.borrow_mut().failure = Some(format!("not a whole gzip file: {e}"));
        })?;
        self.inflated += read as u64;
        if self.inflated > self.limit {
            let reason = format!(
                "inflates to more than {} bytes, the source's max_inflated_size; refusing it",
                self.limit
            );
            self.seen.borrow_mut().failure = Some(reason.clone());
            return Err(io::Error::other(reason));
        }
        Ok(read)
    }
}

/// Drops a UTF-8 byte-order mark at the start.
struct WithoutMark<'a> {
    inner: Box<dyn Read + 'a>,
    /// The first bytes, once read: kept unless they are the mark.
    head: Option<io::Cursor<Vec<u8>>>,
}

impl Read for WithoutMark<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.head.is_none() {
            let mut head = Vec::with_capacity(BYTE_ORDER_MARK.len());
            (&mut self.inner)
                .take(BYTE_ORDER_MARK.len() as u64)
                .read_to_end(&mut head)?;
            if head == BYTE_ORDER_MARK {
                head.clear();
            }
            self.head = Some(io::Cursor::new(head));
        }
        if let Some(head) = &mut self.head {
            let read = head.read(buf)?;
            if read > 0 {
                return Ok(read);
            }
        }
        self.inner.read(buf)
    }
}

/// Text of another encoding, transcoded to UTF-8 as it is read. Bytes the encoding cannot
/// map become U+FFFD, so a value that holds one is seen, not dropped.
struct Decoded<'a> {
    inner: Box<dyn Read + 'a>,
    decoder: Decoder,
    input: Vec<u8>,
    start: usize,
    end: usize,
    state: DecodeState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecodeState {
    Reading,
    /// The input ended; the decoder has yet to flush what it holds.
    Ended,
    Finished,
}

impl Read for Decoded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.state == DecodeState::Finished {
                return Ok(0);
            }
            if self.start == self.end && self.state == DecodeState::Reading {
                let read = self.inner.read(&mut self.input)?;
                (self.start, self.end) = (0, read);
                if read == 0 {
                    self.state = DecodeState::Ended;
                }
            }
            let last = self.state == DecodeState::Ended;
            let input = self.input.get(self.start..self.end).unwrap_or_default();
            let (result, read, written, _) = self.decoder.decode_to_utf8(input, buf, last);
            self.start += read;
            if last && result == CoderResult::InputEmpty {
                self.state = DecodeState::Finished;
            }
            if written > 0 || self.state == DecodeState::Finished {
                return Ok(written);
            }
            if result == CoderResult::OutputFull {
                return Err(io::Error::other(
                    "a read buffer too small for one character",
                ));
            }
        }
    }
}
