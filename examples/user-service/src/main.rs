use std::path::PathBuf;
use std::process::ExitCode;

use user_service::conf::Config;
use user_service::telemetry;

const USAGE: &str = "usage: user-service [--conf FILE]   (default: configs/config.yaml)";

#[tokio::main]
async fn main() -> ExitCode {
    let path = match config_path(std::env::args().skip(1)) {
        Ok(path) => path,
        Err(message) => {
            eprintln!("error: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::load(&path) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let telemetry = match telemetry::init(env!("CARGO_PKG_NAME"), &config.log, &config.tracing) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let code = match user_service::run(config, user_service::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown().await;
    code
}

fn config_path(mut args: impl Iterator<Item = String>) -> Result<PathBuf, String> {
    let mut path = PathBuf::from("configs/config.yaml");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--conf" | "-c" => path = args.next().ok_or("`--conf` needs a file")?.into(),
            "--help" | "-h" => return Err("help requested".into()),
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    Ok(path)
}
