//! HTTP/1.1 on one client connection: the wire format of the load generator's hot path.
//!
//! A request is encoded into one buffer and written with one `write`; the answer is read
//! into a buffer that stays with the connection and is parsed in place: the head with
//! `httparse`, then a `Content-Length`, chunked or close-delimited body. The request's
//! own task does all of it, so a request costs two system calls and no task switch, no
//! channel and no connection task (see BENCHMARKS.md for what that bought).
//!
//! What it speaks is what a load generator needs of HTTP/1.1 (RFC 9112): keep-alive with
//! `Connection: close` honoured both ways, HTTP/1.0 answers, interim (1xx) answers
//! skipped, no body for `HEAD`, 204 and 304, trailers read and dropped. It never
//! pipelines: one request at a time per connection.

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::stream::Stream;
use crate::correlation::{Correlation, REQUEST_ID_HEADER, TRACEPARENT_HEADER};
use crate::outcome::OutcomeClass;

/// The longest answer head (status line and headers) accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most header fields in an answer head.
const MAX_HEADERS: usize = 100;
/// The longest chunk-size line (with extensions), or trailer line.
const MAX_LINE_BYTES: usize = 4 * 1024;
/// Read at least this much free buffer space per `read`, so that an ordinary answer
/// arrives in one short read (a short read also tells tokio the socket is drained).
const READ_SPACE: usize = 16 * 1024;

/// One request, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub(super) struct RequestHead<'a> {
    /// The method.
    pub method: &'a Method,
    /// The request target in origin form (`/path?query`).
    pub target: &'a str,
    /// Sent as `Host` unless `headers` has one.
    pub authority: &'a str,
    /// The path's and the step's headers.
    pub headers: &'a HeaderMap,
    /// Sent as `x-harness-request-id`, in `traceparent` and in any further header.
    pub request_id: u64,
    /// How the request id is carried (see [`crate::correlation`]).
    pub correlation: &'a Correlation,
    /// The body (may be empty).
    pub body: &'a [u8],
    /// False: the answer's body is read and dropped as it arrives (the answer then has
    /// an empty body), so a large answer costs no memory.
    pub keep_body: bool,
    /// Answer headers to hand back (for checks and extractions); usually none.
    pub keep_headers: &'a [HeaderName],
}

/// A complete answer.
#[derive(Debug)]
pub(super) struct Answer {
    /// The final status.
    pub status: u16,
    /// The headers asked for by [`RequestHead::keep_headers`], as they came.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The whole body, de-chunked.
    pub body: Bytes,
}

/// Why an exchange gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// It failed before the server could have seen the request (nothing was written),
    /// or a reused connection was found closed before any answer byte: safe to send
    /// again on a fresh connection when the method is idempotent.
    Stale {
        /// True when no byte of the request was written.
        unwritten: bool,
        /// How it failed, should it not be sent again.
        class: OutcomeClass,
    },
    /// It failed after the request was (at least partly) sent.
    Failed(OutcomeClass),
}

/// An HTTP/1.1 connection to one server, over TCP or TLS.
#[derive(Debug)]
pub(super) struct Connection {
    stream: Stream,
    read: BytesMut,
    write: Vec<u8>,
    /// True once it has carried a whole exchange.
    reused: bool,
    /// False once the connection cannot carry another request.
    open: bool,
    /// How TLS failed mid-exchange (a server refusing a client certificate says so only
    /// after the client's side of the handshake is done), for the run's notes.
    tls_failure: Option<String>,
}

impl Connection {
    /// A connection over `stream`, which is open and (for TLS) past its handshake.
    pub fn new(stream: Stream) -> Self {
        Self {
            stream,
            read: BytesMut::with_capacity(READ_SPACE),
            write: Vec::with_capacity(512),
            reused: false,
            open: true,
            tls_failure: None,
        }
    }

    /// True when the connection can carry another request: it was left in a clean
    /// state, and while idle the server neither closed it nor sent anything (an idle
    /// HTTP/1.1 connection that becomes readable is closing, or confused; see
    /// [`Stream::is_idle`] for what TLS adds).
    ///
    /// Costs no system call unless the socket was left marked readable.
    pub fn is_reusable(&mut self) -> bool {
        self.open && self.stream.is_idle()
    }

    /// How TLS failed during the last exchange, when it did.
    pub fn take_tls_failure(&mut self) -> Option<String> {
        self.tls_failure.take()
    }

    /// The class of `error`; a TLS error is `tls`, and its description is kept.
    fn classify(&mut self, error: &io::Error, fallback: OutcomeClass) -> OutcomeClass {
        if let Some(why) = crate::tls::describe_io(error) {
            self.tls_failure = Some(why);
            return OutcomeClass::Tls;
        }
        classify_io(error, fallback)
    }

    /// Sends `request` and reads its answer; afterwards [`Connection::is_reusable`]
    /// says whether the connection can take another request.
    pub async fn exchange(&mut self, request: RequestHead<'_>) -> Result<Answer, Failure> {
        let reused = self.reused;
        encode(&mut self.write, &request);
        if let Err(failure) = self.send(reused).await {
            self.open = false;
            return Err(failure);
        }
        let head_request = request.method == Method::HEAD;
        match self
            .receive(
                head_request,
                request.keep_body,
                request.keep_headers,
                reused,
            )
            .await
        {
            Ok(answer) => {
                self.reused = true;
                Ok(answer)
            }
            Err(failure) => {
                self.open = false;
                Err(failure)
            }
        }
    }

    async fn send(&mut self, reused: bool) -> Result<(), Failure> {
        let mut written = 0;
        while written < self.write.len() {
            match self.stream.write(&self.write[written..]).await {
                Ok(0) => return Err(Failure::Failed(OutcomeClass::Reset)),
                Ok(n) => written += n,
                Err(e) => {
                    let class = self.classify(&e, OutcomeClass::Reset);
                    return Err(if reused && written == 0 {
                        Failure::Stale {
                            unwritten: true,
                            class,
                        }
                    } else {
                        Failure::Failed(class)
                    });
                }
            }
        }
        // TLS may hold back part of the last record when the socket was full.
        if let Err(e) = self.stream.flush().await {
            return Err(Failure::Failed(self.classify(&e, OutcomeClass::Reset)));
        }
        Ok(())
    }

    async fn receive(
        &mut self,
        head_request: bool,
        keep_body: bool,
        keep_headers: &[HeaderName],
        reused: bool,
    ) -> Result<Answer, Failure> {
        let mut received_any = false;
        let head = loop {
            match parse_head(&self.read, head_request, keep_headers) {
                Ok(Some((head, length))) => {
                    self.read.advance(length);
                    received_any = true;
                    if head.interim {
                        continue;
                    }
                    break head;
                }
                Ok(None) if self.read.len() >= MAX_HEAD_BYTES => {
                    return Err(Failure::Failed(OutcomeClass::Transport));
                }
                Ok(None) => {}
                Err(HeadError) => return Err(Failure::Failed(OutcomeClass::Transport)),
            }
            let nothing_yet = reused && !received_any && self.read.is_empty();
            let closed = |class| {
                if nothing_yet {
                    Failure::Stale {
                        unwritten: false,
                        class,
                    }
                } else {
                    Failure::Failed(class)
                }
            };
            match self.fill().await {
                Ok(0) => return Err(closed(OutcomeClass::Reset)),
                Ok(_) => {}
                Err(e) => return Err(closed(self.classify(&e, OutcomeClass::Reset))),
            }
        };
        let body = match head.body {
            BodyKind::Empty => Bytes::new(),
            BodyKind::Length(length) if keep_body => self.read_length(length).await?,
            BodyKind::Length(length) => self.skip_length(length).await?,
            BodyKind::Chunked => self.read_chunked(keep_body).await?,
            BodyKind::UntilClose => self.read_to_close(keep_body).await?,
        };
        // Bytes after a complete answer (no request was pipelined) leave the connection
        // in an unknown state.
        self.open = head.keep_alive && self.read.is_empty();
        Ok(Answer {
            status: head.status,
            headers: head.kept,
            body,
        })
    }

    async fn read_length(&mut self, length: u64) -> Result<Bytes, Failure> {
        while (self.read.len() as u64) < length {
            self.fill_or_fail().await?;
        }
        // `length` fits: the buffer holds at least that many bytes.
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        Ok(self.read.split_to(length).freeze())
    }

    /// Reads `length` bytes of body and drops them.
    async fn skip_length(&mut self, length: u64) -> Result<Bytes, Failure> {
        let mut left = length;
        loop {
            let take = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(self.read.len());
            self.read.advance(take);
            left -= take as u64;
            if left == 0 {
                return Ok(Bytes::new());
            }
            self.fill_or_fail().await?;
        }
    }

    async fn read_chunked(&mut self, keep_body: bool) -> Result<Bytes, Failure> {
        let mut decoder = ChunkedDecoder::default();
        let mut body = BytesMut::new();
        loop {
            let done = decoder.decode(&mut self.read, &mut body);
            if !keep_body {
                body.clear();
            }
            match done {
                Ok(true) => return Ok(body.freeze()),
                Ok(false) => self.fill_or_fail().await?,
                Err(ChunkError) => return Err(Failure::Failed(OutcomeClass::Transport)),
            }
        }
    }

    async fn read_to_close(&mut self, keep_body: bool) -> Result<Bytes, Failure> {
        loop {
            if !keep_body {
                self.read.clear();
            }
            match self.fill().await {
                Ok(0) => return Ok(self.read.split().freeze()),
                Ok(_) => {}
                Err(e) => return Err(Failure::Failed(self.classify(&e, OutcomeClass::Reset))),
            }
        }
    }

    /// Reads more of the answer; the connection ending first is a reset.
    async fn fill_or_fail(&mut self) -> Result<(), Failure> {
        match self.fill().await {
            Ok(0) => Err(Failure::Failed(OutcomeClass::Reset)),
            Ok(_) => Ok(()),
            Err(e) => Err(Failure::Failed(self.classify(&e, OutcomeClass::Reset))),
        }
    }

    async fn fill(&mut self) -> io::Result<usize> {
        if self.read.capacity() - self.read.len() < READ_SPACE / 2 {
            self.read.reserve(READ_SPACE);
        }
        self.stream.read_buf(&mut self.read).await
    }
}

/// Encodes `request` into `out` (cleared first).
///
/// `Content-Length` is always computed here (any given in `headers` is dropped, as is
/// `Transfer-Encoding`: the body is sent whole); `Host` is the authority unless
/// `headers` name one.
pub(super) fn encode(out: &mut Vec<u8>, request: &RequestHead<'_>) {
    out.clear();
    out.extend_from_slice(request.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(request.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !request.headers.contains_key(HOST) {
        put_header(out, b"host", request.authority.as_bytes());
    }
    let extra = request.correlation.extra_header.as_ref();
    for (name, value) in request.headers {
        // The harness sets these itself: one value each, the one the proxy can join on.
        let ours = name == CONTENT_LENGTH
            || name == TRANSFER_ENCODING
            || name == REQUEST_ID_HEADER
            || name == TRACEPARENT_HEADER
            || Some(name) == extra;
        if !ours {
            put_header(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    let mut digits = itoa::Buffer::new();
    let id = digits.format(request.request_id).as_bytes();
    put_header(out, REQUEST_ID_HEADER.as_bytes(), id);
    if let Some(name) = extra {
        put_header(out, name.as_str().as_bytes(), id);
    }
    put_header(
        out,
        TRACEPARENT_HEADER.as_bytes(),
        &request.correlation.traceparent(request.request_id),
    );
    let carries_body = matches!(*request.method, Method::POST | Method::PUT | Method::PATCH);
    if !request.body.is_empty() || carries_body {
        put_header(
            out,
            b"content-length",
            digits.format(request.body.len()).as_bytes(),
        );
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(request.body);
}

fn put_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// How an answer's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyKind {
    /// No body (`HEAD`, 1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// An answer's head, as far as reading the answer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Head {
    /// The status code.
    pub status: u16,
    /// An interim (1xx) answer: the final one follows.
    pub interim: bool,
    /// How the body is delimited.
    pub body: BodyKind,
    /// Whether the connection can carry another request afterwards.
    pub keep_alive: bool,
    /// The headers asked for, in answer order.
    pub kept: Vec<(HeaderName, HeaderValue)>,
}

/// The answer head is not valid HTTP/1.x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HeadError;

/// Parses an answer head at the start of `buf`: `None` while it is incomplete, else the
/// head and its length in bytes.
pub(super) fn parse_head(
    buf: &[u8],
    head_request: bool,
    wanted: &[HeaderName],
) -> Result<Option<(Head, usize)>, HeadError> {
    // Left uninitialised: the parser writes the headers it finds (once per answer, on
    // the hot path, so no 3 KiB of zeroing).
    let mut headers = [std::mem::MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut headers,
    );
    let length = match parsed {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(HeadError),
    };
    let status = response.code.ok_or(HeadError)?;
    let http10 = response.version == Some(0);
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding: Option<bool> = None;
    let mut close = http10;
    let mut kept = Vec::new();
    for header in response.headers.iter() {
        let name = header.name;
        if let Some(want) = wanted
            .iter()
            .find(|w| name.eq_ignore_ascii_case(w.as_str()))
            && let Ok(value) = HeaderValue::from_bytes(header.value)
        {
            kept.push((want.clone(), value));
        }
        if name.eq_ignore_ascii_case(CONTENT_LENGTH.as_str()) {
            let value = parse_content_length(header.value).ok_or(HeadError)?;
            if content_length.is_some_and(|seen| seen != value) {
                return Err(HeadError);
            }
            content_length = Some(value);
        } else if name.eq_ignore_ascii_case(TRANSFER_ENCODING.as_str()) {
            // The last coding decides whether the body is chunked.
            let last = tokens(header.value).last();
            if let Some(last) = last {
                transfer_encoding = Some(last.eq_ignore_ascii_case(b"chunked"));
            }
        } else if name.eq_ignore_ascii_case(CONNECTION.as_str()) {
            for token in tokens(header.value) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && http10 {
                    close = false;
                }
            }
        }
    }
    let interim = (100..200).contains(&status) && status != 101;
    let body = if interim || head_request || status == 204 || status == 304 {
        BodyKind::Empty
    } else if status == 101 {
        // Switching protocols: whatever follows is not HTTP/1.1 any more.
        close = true;
        BodyKind::Empty
    } else {
        match (transfer_encoding, content_length) {
            (Some(true), _) => BodyKind::Chunked,
            // A coding the length of which is unknown: it ends with the connection.
            (Some(false), _) => BodyKind::UntilClose,
            (None, Some(length)) => BodyKind::Length(length),
            (None, None) => BodyKind::UntilClose,
        }
    };
    if body == BodyKind::UntilClose {
        close = true;
    }
    Ok(Some((
        Head {
            status,
            interim,
            body,
            keep_alive: !close,
            kept,
        },
        length,
    )))
}

/// A `Content-Length` value: digits, or a list of equal values (`5, 5`).
fn parse_content_length(value: &[u8]) -> Option<u64> {
    let mut result = None;
    for token in value.split(|&b| b == b',') {
        let token = token.trim_ascii();
        if token.is_empty() || !token.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n: u64 = std::str::from_utf8(token).ok()?.parse().ok()?;
        if result.is_some_and(|seen| seen != n) {
            return None;
        }
        result = Some(n);
    }
    result
}

/// The comma-separated tokens of a header value, trimmed, empty ones skipped.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// The chunked body is not valid (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ChunkError;

/// Decodes a chunked body as it arrives.
#[derive(Debug, Default)]
pub(super) struct ChunkedDecoder {
    state: ChunkState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Expecting a chunk-size line.
    #[default]
    Size,
    /// In a chunk's data, with this many bytes to go.
    Data(u64),
    /// Expecting the line end after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
    /// The body is complete.
    Done,
}

impl ChunkedDecoder {
    /// Moves what `input` holds of the body into `out` (consuming it from `input`);
    /// true once the body is complete, false when more input is needed.
    pub fn decode(&mut self, input: &mut BytesMut, out: &mut BytesMut) -> Result<bool, ChunkError> {
        loop {
            match self.state {
                ChunkState::Size => {
                    let Some(line) = take_line(input)? else {
                        return Ok(false);
                    };
                    let size = chunk_size(&line)?;
                    self.state = if size == 0 {
                        ChunkState::Trailers
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(left) => {
                    if input.is_empty() {
                        return Ok(false);
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    out.extend_from_slice(&input[..take]);
                    input.advance(take);
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::DataEnd => {
                    let Some(line) = take_line(input)? else {
                        return Ok(false);
                    };
                    if !line.is_empty() {
                        return Err(ChunkError);
                    }
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    let Some(line) = take_line(input)? else {
                        return Ok(false);
                    };
                    if line.is_empty() {
                        self.state = ChunkState::Done;
                    }
                }
                ChunkState::Done => return Ok(true),
            }
        }
    }
}

/// Takes one line (without its CRLF or bare LF) off the front of `input`; `None` while
/// the line is incomplete.
fn take_line(input: &mut BytesMut) -> Result<Option<BytesMut>, ChunkError> {
    match input.iter().position(|&b| b == b'\n') {
        Some(end) => {
            let mut line = input.split_to(end + 1);
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            }
            Ok(Some(line))
        }
        None if input.len() > MAX_LINE_BYTES => Err(ChunkError),
        None => Ok(None),
    }
}

/// The size on a chunk-size line: hex digits, then optional whitespace and extensions.
fn chunk_size(line: &[u8]) -> Result<u64, ChunkError> {
    let digits = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    if digits == 0 || digits > 16 {
        return Err(ChunkError);
    }
    let rest = line[digits..].trim_ascii_start();
    if !(rest.is_empty() || rest.first() == Some(&b';')) {
        return Err(ChunkError);
    }
    let text = std::str::from_utf8(&line[..digits]).map_err(|_| ChunkError)?;
    u64::from_str_radix(text, 16).map_err(|_| ChunkError)
}

/// The outcome class of an I/O error; `fallback` for kinds that say nothing specific.
pub(super) fn classify_io(error: &io::Error, fallback: OutcomeClass) -> OutcomeClass {
    match error.kind() {
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::AddrNotAvailable
        | io::ErrorKind::NotFound
        | io::ErrorKind::HostUnreachable
        | io::ErrorKind::NetworkUnreachable => OutcomeClass::Connect,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => OutcomeClass::Reset,
        io::ErrorKind::TimedOut => OutcomeClass::Timeout,
        _ => fallback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn head(text: &str) -> Head {
        parse_head(text.as_bytes(), false, &[])
            .expect("valid")
            .expect("complete")
            .0
    }

    #[test]
    fn heads_say_how_the_body_ends_and_whether_the_connection_stays() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n");
        assert_eq!(
            (h.status, h.body, h.keep_alive),
            (200, BodyKind::Length(13), true)
        );
        let h = head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n",
        );
        assert_eq!(h.body, BodyKind::Chunked);
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!((h.body, h.keep_alive), (BodyKind::UntilClose, false));
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.body, h.keep_alive), (BodyKind::UntilClose, false));
        let h =
            head("HTTP/1.1 500 x\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n");
        assert_eq!((h.status, h.keep_alive), (500, false));
        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n");
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n");
        assert!(h.keep_alive);
        let h = head("HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!((h.body, h.keep_alive), (BodyKind::Empty, true));
        let h = head("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n");
        assert_eq!(h.body, BodyKind::Empty);
        let h = head("HTTP/1.1 100 Continue\r\n\r\n");
        assert!(h.interim);
        let h = head("HTTP/1.1 101 Switching Protocols\r\n\r\n");
        assert_eq!((h.interim, h.keep_alive), (false, false));
        let (h, _) = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true, &[])
            .expect("valid")
            .expect("complete");
        assert_eq!(h.body, BodyKind::Empty);
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 4, 4\r\n\r\n");
        assert_eq!(h.body, BodyKind::Length(4));
    }

    #[test]
    fn bad_or_partial_heads_are_told_apart() {
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le", false, &[]),
            Ok(None)
        );
        assert_eq!(parse_head(b"", false, &[]), Ok(None));
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 4, 5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
            "HTTP/1.1 abc OK\r\n\r\n",
        ] {
            assert_eq!(
                parse_head(bad.as_bytes(), false, &[]),
                Err(HeadError),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_head_length_excludes_the_body() {
        let text = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        let (_, length) = parse_head(text, false, &[])
            .expect("valid")
            .expect("complete");
        assert_eq!(&text[length..], b"hi");
    }

    #[test]
    fn requests_carry_host_id_and_length_and_never_a_given_length() {
        let mut headers = HeaderMap::new();
        headers.insert("x-tenant", "a".parse().expect("value"));
        headers.insert(CONTENT_LENGTH, "999".parse().expect("value"));
        headers.insert(TRANSFER_ENCODING, "chunked".parse().expect("value"));
        // A traceparent of the caller's is replaced by the request's own.
        headers.insert(TRACEPARENT_HEADER, "00-x".parse().expect("value"));
        let correlation = Correlation::for_run(5, "p", None);
        let trace =
            |id: u64| String::from_utf8(correlation.traceparent(id).to_vec()).expect("ascii");
        let mut out = Vec::new();
        encode(
            &mut out,
            &RequestHead {
                method: &Method::POST,
                target: "/api/run?x=1",
                authority: "127.0.0.1:8080",
                headers: &headers,
                request_id: 42,
                correlation: &correlation,
                body: b"{}",
                keep_body: true,
                keep_headers: &[],
            },
        );
        assert_eq!(
            String::from_utf8(out.clone()).expect("ascii"),
            format!(
                "POST /api/run?x=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nx-tenant: a\r\n\
                 x-harness-request-id: 42\r\ntraceparent: {}\r\ncontent-length: 2\r\n\r\n{{}}",
                trace(42)
            )
        );
        let mut given_host = HeaderMap::new();
        given_host.insert(HOST, "api.internal".parse().expect("value"));
        encode(
            &mut out,
            &RequestHead {
                method: &Method::GET,
                target: "/",
                authority: "127.0.0.1:8080",
                headers: &given_host,
                request_id: 1,
                correlation: &correlation,
                body: b"",
                keep_body: true,
                keep_headers: &[],
            },
        );
        assert_eq!(
            String::from_utf8(out.clone()).expect("ascii"),
            format!(
                "GET / HTTP/1.1\r\nhost: api.internal\r\nx-harness-request-id: 1\r\n\
                 traceparent: {}\r\n\r\n",
                trace(1)
            )
        );
        // A header the scenario names carries the id too, and replaces the caller's.
        let named = Correlation::for_run(5, "p", Some(http::HeaderName::from_static("x-corr")));
        let mut with_named = HeaderMap::new();
        with_named.insert("x-corr", "theirs".parse().expect("value"));
        encode(
            &mut out,
            &RequestHead {
                method: &Method::GET,
                target: "/",
                authority: "h",
                headers: &with_named,
                request_id: 7,
                correlation: &named,
                body: b"",
                keep_body: true,
                keep_headers: &[],
            },
        );
        let text = String::from_utf8(out.clone()).expect("ascii");
        assert!(
            text.contains("x-corr: 7\r\n") && !text.contains("theirs"),
            "{text}"
        );
        encode(
            &mut out,
            &RequestHead {
                method: &Method::PUT,
                target: "/",
                authority: "h",
                headers: &HeaderMap::new(),
                request_id: 2,
                correlation: &correlation,
                body: b"",
                keep_body: true,
                keep_headers: &[],
            },
        );
        assert!(
            String::from_utf8(out)
                .expect("ascii")
                .ends_with("content-length: 0\r\n\r\n")
        );
    }

    #[test]
    fn io_errors_are_classed_by_kind() {
        let class = |kind| classify_io(&io::Error::new(kind, "x"), OutcomeClass::Transport);
        assert_eq!(class(io::ErrorKind::ConnectionReset), OutcomeClass::Reset);
        assert_eq!(class(io::ErrorKind::BrokenPipe), OutcomeClass::Reset);
        assert_eq!(
            class(io::ErrorKind::ConnectionRefused),
            OutcomeClass::Connect
        );
        assert_eq!(class(io::ErrorKind::TimedOut), OutcomeClass::Timeout);
        assert_eq!(class(io::ErrorKind::Other), OutcomeClass::Transport);
    }

    fn decode_all(pieces: &[&[u8]]) -> Result<(bool, Vec<u8>, Vec<u8>), ChunkError> {
        let mut decoder = ChunkedDecoder::default();
        let mut input = BytesMut::new();
        let mut out = BytesMut::new();
        let mut done = false;
        for piece in pieces {
            input.extend_from_slice(piece);
            done = decoder.decode(&mut input, &mut out)?;
        }
        Ok((done, out.to_vec(), input.to_vec()))
    }

    #[test]
    fn chunked_bodies_decode_with_extensions_trailers_and_bare_line_feeds() {
        let (done, body, rest) = decode_all(&[
            b"5;name=value\r\nhello\r\n6 \r\n world\r\n0\r\nx-trailer: 1\r\n\r\nNEXT",
        ])
        .expect("valid");
        assert!(done);
        assert_eq!(body, b"hello world");
        assert_eq!(rest, b"NEXT", "bytes after the body stay in the input");
        let (done, body, _) = decode_all(&[b"3\nabc\n0\n\n"]).expect("valid");
        assert!(done);
        assert_eq!(body, b"abc");
        let (done, body, _) = decode_all(&[b"A\r\n0123", b"456789\r\n"]).expect("valid");
        assert!(!done);
        assert_eq!(body, b"0123456789");
    }

    #[test]
    fn malformed_chunked_bodies_are_refused() {
        for bad in [
            &b"x\r\n"[..],
            b"3\r\nabcd\r\n",
            b"; ext\r\n",
            b"11111111111111111\r\n",
            b"3 junk\r\nabc\r\n",
        ] {
            assert_eq!(
                decode_all(&[bad]),
                Err(ChunkError),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = vec![b'1'; MAX_LINE_BYTES + 1];
        assert_eq!(decode_all(&[&long]), Err(ChunkError));
    }

    fn chunked(body: &[u8], sizes: &[usize], extensions: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = body;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].clamp(1, rest.len());
            out.extend_from_slice(format!("{n:x}").as_bytes());
            if extensions {
                out.extend_from_slice(b";e=\"v\"");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
            i += 1;
        }
        out.extend_from_slice(b"0\r\n");
        if extensions {
            out.extend_from_slice(b"trailer: t\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    proptest! {
        #[test]
        fn chunked_decoding_gives_the_body_back_however_the_bytes_arrive(
            body in proptest::collection::vec(any::<u8>(), 0..2000),
            sizes in proptest::collection::vec(1usize..300, 1..8),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
            extensions in any::<bool>(),
        ) {
            let wire = chunked(&body, &sizes, extensions);
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
            points.sort_unstable();
            let mut pieces = Vec::new();
            let mut from = 0;
            for p in points {
                pieces.push(&wire[from..p]);
                from = p;
            }
            pieces.push(&wire[from..]);
            let (done, decoded, rest) = decode_all(&pieces).expect("valid chunked body");
            prop_assert!(done);
            prop_assert_eq!(decoded, body);
            prop_assert!(rest.is_empty());
        }

        #[test]
        fn no_byte_string_makes_the_parsers_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_head(&bytes, false, &[]);
            let _ = decode_all(&[&bytes]);
        }
    }
}
