//! `micro run`: builds a service of the project or workspace and runs it from its own folder (so
//! its relative config paths resolve), forwarding arguments, signals and the exit code; with
//! `--watch`, rebuilds and restarts it as its sources change.

mod build;
mod process;
mod target;
mod together;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::commands::new::choices::Asking;
use crate::output::Printer;

pub use target::Selection;

pub struct Options {
    /// Where to look for the service: its folder or one inside it.
    pub cwd: PathBuf,
    /// Where the service runs, when not in its own folder.
    pub workdir: Option<PathBuf>,
    pub release: bool,
    pub args: Vec<String>,
    /// `-p` as given: none (the package the folder is in), one, or several to run together.
    pub packages: Vec<String>,
    pub bin: Option<String>,
    pub watch: bool,
    pub asking: Asking,
}

pub fn run(options: &Options, printer: Printer) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        options.cwd.is_dir(),
        "`{}` is not a folder\nhint: `micro run DIR` takes the service's folder",
        options.cwd.display()
    );
    if let Some(work) = &options.workdir {
        anyhow::ensure!(
            work.is_dir(),
            "the work directory `{}` is not a folder",
            work.display()
        );
    }
    if options.packages.len() > 1 {
        anyhow::ensure!(
            !options.watch && options.bin.is_none() && options.workdir.is_none(),
            "`--watch`, `--bin` and `--work` take one service\nhint: run the others in another terminal, or drop the flag"
        );
        let targets = options
            .packages
            .iter()
            .map(|package| {
                let selection = Selection {
                    package: Some(package.clone()),
                    bin: None,
                };
                target::select(&options.cwd, &selection, options.asking)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        return together::run(&targets, options, printer);
    }
    let selection = Selection {
        package: options.packages.first().cloned(),
        bin: options.bin.clone(),
    };
    let target = target::select(&options.cwd, &selection, options.asking)?;
    if options.watch {
        return watch::run(&target, options, printer);
    }
    let executable = build::build(&target, options.release, printer)?;
    let workdir = options.workdir.as_deref().unwrap_or(&target.dir);
    printer.status(
        "Running",
        format!("`{}` in `{}`", target.bin, workdir.display()),
    );
    let mut service = process::Service::start(&executable, workdir, &options.args)?;
    // SIGINT, SIGTERM and SIGHUP sent to micro reach the service, which drains and exits while
    // micro waits for its exit code.
    #[cfg(unix)]
    let forwarding = process::forward_signals(vec![service.pid()])?;
    let status = service.wait()?;
    #[cfg(unix)]
    forwarding.close();
    Ok(process::exit_code(status))
}
