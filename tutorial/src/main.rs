//! The tutorial app's server: reads its configuration from the environment (see the
//! `tutorial` crate's docs), then serves until SIGTERM or Ctrl-C.

use tutorial::{app_from_config, config_from_env, serving};

/// The server's allocator. A request allocates and frees 17 to 26 heap blocks (hyper's
/// buffers and headers, axum's boxed routes and futures, the claims, the answer); glibc's
/// malloc took a fifth of the server's instructions per request when they were 32 to 44
/// (BENCHMARKS.md, "The example server's allocator"). The library leaves the choice to the
/// application.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Resolves at SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Colours for a person at a terminal; plain lines for a log collector or a pipe.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(ansi)
        .init();
    let result = async {
        let mut config = config_from_env()?;
        let settings = serving::Serving::from_lookup(|name| std::env::var(name).ok())?;
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        // With `PORT=0`, the port the system gave: the default `PUBLIC_URL` names it.
        config.addr = listener.local_addr()?;
        let app = app_from_config(&config).await?;
        tracing::info!(?settings, "serving limits");
        tracing::info!("listening on http://{}", listener.local_addr()?);
        // Handlers see the peer address (login throttling uses it) as `ConnectInfo`.
        serving::serve(listener, app, &settings, shutdown_signal()).await;
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
