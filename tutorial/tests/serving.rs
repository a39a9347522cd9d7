//! The example server's serving limits, as a real process on loopback: slow headers and idle
//! keep-alive connections are cut off, a full connection table frees up, SIGTERM with
//! partial requests open still ends within the shutdown deadline, and logs to a pipe carry
//! no colour codes. Every wait is bounded; the bounds are generous.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use axum::routing::get;
use http::StatusCode;
use support::{child_lines, vars, wait_for_line};
use tower::ServiceExt;
use tutorial::serving::{Serving, prepared, within};

/// Room on top of a configured timeout for a loaded machine.
const MARGIN: Duration = Duration::from_secs(5);

/// The example server, started with `envs` in a fresh directory, and its log lines (raw).
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(envs: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(std::path::PathBuf::from(env!("CARGO_BIN_EXE_server")));
        command
            .current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("NO_COLOR")
            .env("APP_SECRET_STRING", support::APP_SECRET)
            .env("BCRYPT_COST", "4")
            .env("RUST_LOG", "info")
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in envs {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let lines = child_lines(&mut child);
        let mut server = Self {
            child,
            lines,
            addr: String::new(),
            _dir: dir,
        };
        let line = server.wait_for("listening on http://");
        assert!(
            !line.contains('\u{1b}'),
            "no ANSI codes when stdout is a pipe: {line:?}"
        );
        server.addr = line.rsplit("http://").next().unwrap().trim().to_owned();
        assert!(server.addr.starts_with("127.0.0.1:"), "{}", server.addr);
        server
    }

    fn wait_for(&self, needle: &str) -> String {
        wait_for_line(&self.lines, needle)
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }

    /// Waits at most `within` for the process to exit.
    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill().unwrap();
        panic!("the server did not exit within {within:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads until the server closes `stream` (EOF or reset) or `within` passes; returns what
/// came and whether the connection was closed.
fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let deadline = Instant::now() + within;
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => return (String::from_utf8_lossy(&received).into_owned(), true),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break;
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), true),
        }
    }
    (String::from_utf8_lossy(&received).into_owned(), false)
}

#[test]
fn a_slow_header_connection_is_closed_after_the_header_read_timeout() {
    let server = Server::start(&[("HEADER_READ_TIMEOUT", "1")]);
    let mut stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    // 45 bytes at one per 300 ms: the head would be complete after 13.5 s.
    let head = b"GET /notsecret HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
    let sent = std::thread::spawn(move || {
        for (count, byte) in head.iter().enumerate() {
            if writer.write_all(&[*byte]).is_err() {
                return count;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        head.len()
    });
    let (received, closed) = read_until_closed(&mut stream, Duration::from_secs(1) + MARGIN);
    assert!(closed, "the slow connection is still open");
    assert!(
        !received.contains("200 OK"),
        "a slow head is not served: {received:?}"
    );
    let sent = sent.join().unwrap();
    assert!(
        sent < head.len(),
        "closed only after the whole head was sent"
    );
}

#[test]
fn the_server_answers_a_request_past_its_request_timeout_with_503() {
    // bcrypt at cost 13 takes far longer than 50 ms: the signup is cut off by `serve`.
    let server = Server::start(&[("REQUEST_TIMEOUT", "0.05"), ("BCRYPT_COST", "13")]);
    let mut stream = server.connect();
    let body = r#"{"username": "slow", "password": "correct horse battery"}"#;
    write!(
        stream,
        "POST /signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let (received, closed) = read_until_closed(&mut stream, MARGIN);
    assert!(closed, "no answer within {MARGIN:?}");
    assert!(received.starts_with("HTTP/1.1 503"), "{received:?}");
    assert!(received.contains("\"detail\""), "{received:?}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_header_read_timeout() {
    let server = Server::start(&[("HEADER_READ_TIMEOUT", "1")]);
    let mut stream = server.connect();
    stream
        .write_all(b"GET /notsecret HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (received, closed) = read_until_closed(&mut stream, Duration::from_secs(1) + MARGIN);
    assert!(received.starts_with("HTTP/1.1 200"), "{received:?}");
    assert!(received.ends_with("\"Not secret data\""), "{received:?}");
    assert!(closed, "the idle keep-alive connection is still open");
}

#[test]
fn with_the_connection_cap_reached_a_client_is_served_within_a_header_read_timeout() {
    let server = Server::start(&[("HEADER_READ_TIMEOUT", "1"), ("MAX_CONNECTIONS", "8")]);
    let holders: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut stream = server.connect();
            stream.write_all(b"GET /notsecret HTTP/1.1\r\nHo").unwrap();
            stream
        })
        .collect();
    server.wait_for("connection limit reached");

    let mut client = server.connect();
    client
        .write_all(b"GET /notsecret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (received, closed) = read_until_closed(&mut client, Duration::from_secs(1) + MARGIN);
    assert!(received.starts_with("HTTP/1.1 200"), "{received:?}");
    assert!(closed, "Connection: close is honoured");
    drop(holders);
}

#[cfg(unix)]
#[test]
fn sigterm_with_partial_requests_open_exits_within_the_shutdown_deadline() {
    // The header-read timeout is far away: only the shutdown deadline can end these.
    let mut server = Server::start(&[("HEADER_READ_TIMEOUT", "120"), ("SHUTDOWN_TIMEOUT", "1")]);
    let partial: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut stream = server.connect();
            stream
                .write_all(b"POST /login HTTP/1.1\r\nHost: x\r\nCont")
                .unwrap();
            stream
        })
        .collect();
    // A full request on a later connection: by its answer, the partial ones were accepted.
    let mut probe = server.connect();
    probe
        .write_all(b"GET /notsecret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (received, _) = read_until_closed(&mut probe, MARGIN);
    assert!(received.starts_with("HTTP/1.1 200"), "{received:?}");

    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    server.wait_for("shutting down");
    server.wait_for("shutdown deadline passed");
    let status = server.wait_exit(Duration::from_secs(1) + MARGIN);
    assert!(status.success(), "exits 0 after the deadline: {status:?}");
    drop(partial);
}

#[test]
fn serving_settings_default_to_production_values_and_read_fractional_seconds() {
    let defaults = Serving::from_lookup(vars(&[])).unwrap();
    assert_eq!(defaults, Serving::default());
    assert_eq!(defaults.header_read_timeout, Duration::from_secs(10));
    assert_eq!(defaults.request_timeout, Duration::from_secs(30));
    assert_eq!(defaults.max_connections, 10_000);
    assert_eq!(defaults.shutdown_timeout, Duration::from_secs(10));

    let small = Serving::from_lookup(vars(&[
        ("HEADER_READ_TIMEOUT", "0.5"),
        ("REQUEST_TIMEOUT", "2"),
        ("MAX_CONNECTIONS", "8"),
        ("SHUTDOWN_TIMEOUT", "1.25"),
    ]))
    .unwrap();
    assert_eq!(small.header_read_timeout, Duration::from_millis(500));
    assert_eq!(small.request_timeout, Duration::from_secs(2));
    assert_eq!(small.max_connections, 8);
    assert_eq!(small.shutdown_timeout, Duration::from_millis(1250));

    for (name, value) in [
        ("HEADER_READ_TIMEOUT", "0"),
        ("REQUEST_TIMEOUT", "-1"),
        ("SHUTDOWN_TIMEOUT", "soon"),
        ("MAX_CONNECTIONS", "0"),
        ("MAX_CONNECTIONS", "many"),
    ] {
        let error = Serving::from_lookup(vars(&[(name, value)])).unwrap_err();
        assert!(error.contains(name), "{error}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_past_the_request_timeout_is_answered_503_with_a_detail() {
    let app = axum::Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "too late"
            }),
        )
        .route("/fast", get(|| async { "in time" }));
    let app = prepared(app);
    let answer = |path: &str| {
        let request = http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        within(Duration::from_secs(1), app.clone().oneshot(request))
    };
    let fast = answer("/fast").await;
    assert_eq!(fast.status(), StatusCode::OK);

    let slow = answer("/slow").await;
    assert_eq!(slow.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = http_body_util::BodyExt::collect(slow.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|detail| !detail.is_empty()),
        "{body}"
    );
}
