//! A small HTTP/1.1 client for the CLI (`status`, `upload --test`) to ask the running daemon's
//! API, over TCP or its Unix socket. Blocking, one request per connection.

use std::io::{Read, Write};
use std::time::Duration;

use crate::service::config::{Listen, Secret};

const TIMEOUT: Duration = Duration::from_secs(5);
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// An answer: status code and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("the local API is off (api.listen = \"off\"): nothing to ask")]
    Off,
    #[error(
        "cannot reach the daemon at {listen}: {error} (is `openclaw-livestatus run` running, and api.listen the same for both?)"
    )]
    Unreachable {
        listen: String,
        error: std::io::Error,
    },
    #[error("the daemon at {listen} sent an answer that is not HTTP: {what}")]
    Garbled { listen: String, what: String },
}

/// `GET path` from the daemon listening at `listen`.
pub fn get(listen: &Listen, path: &str, secret: Option<&Secret>) -> Result<Answer, AskError> {
    let shown = listen.to_string();
    let unreachable = |error| AskError::Unreachable {
        listen: shown.clone(),
        error,
    };
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(secret) = secret {
        request.push_str(&format!("Authorization: Bearer {}\r\n", secret.expose()));
    }
    request.push_str("\r\n");
    let raw = match listen {
        Listen::Off => return Err(AskError::Off),
        Listen::Tcp(addr) => {
            let mut stream =
                std::net::TcpStream::connect_timeout(addr, TIMEOUT).map_err(unreachable)?;
            exchange(&mut stream, &request, TIMEOUT).map_err(unreachable)?
        }
        Listen::Unix(path) => {
            let mut stream = std::os::unix::net::UnixStream::connect(path).map_err(unreachable)?;
            stream
                .set_read_timeout(Some(TIMEOUT))
                .map_err(unreachable)?;
            stream.write_all(request.as_bytes()).map_err(unreachable)?;
            let mut raw = Vec::new();
            stream
                .take(MAX_ANSWER)
                .read_to_end(&mut raw)
                .map_err(unreachable)?;
            raw
        }
    };
    parse(&raw).map_err(|what| AskError::Garbled {
        listen: shown,
        what,
    })
}

fn exchange(
    stream: &mut std::net::TcpStream,
    request: &str,
    timeout: Duration,
) -> std::io::Result<Vec<u8>> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.take(MAX_ANSWER).read_to_end(&mut raw)?;
    Ok(raw)
}

/// Status line, headers, body (de-chunked when the server chunked it).
fn parse(raw: &[u8]) -> Result<Answer, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "headers are not text")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("no status line")?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &raw[split + 4..];
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(Answer { status, body })
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk without its size line")?;
        let size_text = std::str::from_utf8(&body[..end]).map_err(|_| "bad chunk size")?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        body = &body[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size {
            return Err("a chunk cut short".to_owned());
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_chunked_answers_parse() {
        let a = parse(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\n{}")
            .expect("parses");
        assert_eq!((a.status, a.body.as_slice()), (503, &b"{}"[..]));
        let a = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            .expect("parses");
        assert_eq!((a.status, a.body.as_slice()), (200, &b"abcde"[..]));
        assert!(parse(b"garbage").is_err());
    }
}
