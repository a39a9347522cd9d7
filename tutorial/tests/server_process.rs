//! The example server as a real process: it refuses a weak secret at start, warns about a
//! missing one, serves over loopback, and shuts down gracefully on SIGTERM.

use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::{child_lines, strip_ansi, wait_for_line};

fn spawn(envs: &[(&str, &str)], dir: &std::path::Path) -> Child {
    let mut command = Command::new(std::path::PathBuf::from(env!("CARGO_BIN_EXE_server")));
    command
        .current_dir(dir)
        .env_remove("APP_SECRET_STRING")
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in envs {
        command.env(name, value);
    }
    command.spawn().unwrap()
}

/// Lines of the child's stdout and stderr, without colour codes, as they come.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let raw = child_lines(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in raw {
            let _ = tx.send(strip_ansi(&line));
        }
    });
    rx
}

fn wait_for(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    wait_for_line(rx, needle)
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..300 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    panic!("the server did not exit within 30 s");
}

#[test]
fn a_weak_secret_stops_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn(&[("APP_SECRET_STRING", "short")], dir.path());
    let rx = lines(&mut child);
    let line = wait_for(&rx, "APP_SECRET_STRING");
    assert!(
        line.contains("at least 32") && line.contains("openssl rand"),
        "{line}"
    );
    assert!(!wait_exit(&mut child).success());
    assert!(
        !dir.path().join("auth.db").exists(),
        "nothing is created before the check"
    );
}

#[cfg(unix)]
#[test]
fn without_a_secret_it_warns_serves_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn(&[("BCRYPT_COST", "4")], dir.path());
    let rx = lines(&mut child);
    wait_for(&rx, "tokens will not survive a restart");
    let line = wait_for(&rx, "listening on http://");
    let addr = line.rsplit("http://").next().unwrap().trim().to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");

    // One real request over loopback.
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"GET /notsecret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("\"Not secret data\""), "{response}");
    // The default database was created in the working directory.
    assert!(dir.path().join("auth.db").exists());

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for(&rx, "shutting down");
    assert!(wait_exit(&mut child).success(), "graceful shutdown exits 0");
}
