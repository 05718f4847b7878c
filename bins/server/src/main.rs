//! `telesfu`: the server binary. Everything it does lives in the telesfu-server library.

use std::process::ExitCode;

use clap::Parser;
use telesfu_server::config::{Args, Config, LogFormat};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::load(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("telesfu: {e}");
            return ExitCode::from(2);
        }
    };
    if args.print_config {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    let filter = EnvFilter::try_from_env("TELESFU_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    match config.server.log_format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init(),
        LogFormat::Pretty => tracing_subscriber::fmt().with_env_filter(filter).init(),
    }
    let server = match telesfu_server::server::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("telesfu: {e}");
            return ExitCode::from(1);
        }
    };
    let b = server.bound;
    tracing::info!(http = %b.http, media = %b.media, "telesfu started");
    println!(
        "telesfu is running. Open http://{}/?room=demo in two browser tabs (one clinician, one patient).",
        b.http
    );
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
