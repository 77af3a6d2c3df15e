//! One module per command. Each turns its arguments into plain options and does the work; none of
//! the work below this line knows about clap.

pub mod call;
pub mod new;
pub mod proto;
pub mod routes;
pub mod run;
pub mod upgrade;

use std::process::ExitCode;

use crate::cli::{Command, ProtoCommand};
use crate::output::Printer;
use crate::scaffold::Transports;

pub fn dispatch(command: Command, printer: Printer) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir()?;
    match command {
        Command::New(args) => new::run(
            &new::Options {
                name: args.name,
                parent: args.path.unwrap_or_else(|| cwd.clone()),
                force: args.force,
                join_workspace: !args.no_workspace,
                given: new::choices::Given {
                    storage: args.storage,
                    messaging: args.messaging,
                    auth: args.auth,
                    transport: (!args.transport.is_empty())
                        .then(|| Transports::from_flags(&args.transport))
                        .transpose()?,
                    registry: args.registry,
                    one_port: args.one_port,
                },
                asking: new::choices::Asking::detect(args.yes),
                template: args.template.map(|location| new::template::Template {
                    location,
                    branch: args.branch,
                }),
            },
            printer,
        )
        .map(|()| ExitCode::SUCCESS),
        Command::Proto(proto) => match proto.command {
            ProtoCommand::Add(args) => {
                proto::add::run(&cwd, &args.file, args.force, printer).map(|()| ExitCode::SUCCESS)
            }
            ProtoCommand::Client(args) => proto::client::run(
                &proto::client::Options {
                    cwd: cwd.clone(),
                    path: args.path.map(|p| cwd.join(p)),
                    includes: args.includes.iter().map(|i| cwd.join(i)).collect(),
                    check: args.check,
                },
                printer,
            ),
            ProtoCommand::Server(args) => proto::server::run(
                &proto::server::Options {
                    file: cwd.join(args.file),
                    target_dir: cwd.join(args.target_dir),
                    includes: args.includes.iter().map(|i| cwd.join(i)).collect(),
                },
                printer,
            )
            .map(|()| ExitCode::SUCCESS),
            ProtoCommand::Lint(args) => proto::lint::run(
                &proto::lint::Options {
                    cwd: cwd.clone(),
                    path: args.path.map(|p| cwd.join(p)),
                    includes: args.includes.iter().map(|i| cwd.join(i)).collect(),
                    json: args.format == crate::cli::LintFormat::Json,
                    list_rules: args.rules,
                },
                printer,
            ),
            ProtoCommand::Breaking(args) => proto::breaking::run(
                &proto::breaking::Options {
                    cwd: cwd.clone(),
                    against: args.against,
                    includes: args.includes.iter().map(|i| cwd.join(i)).collect(),
                    json: args.format == crate::cli::LintFormat::Json,
                },
                printer,
            ),
        },
        Command::Call(args) => {
            let (address, method, request) = call::split_arguments(&args.args, args.nats)?;
            let headers = args
                .headers
                .iter()
                .map(|header| call::parse_header(header))
                .collect::<anyhow::Result<_>>()?;
            call::run(
                &call::Options {
                    cwd,
                    address,
                    method,
                    request,
                    http: args.http,
                    nats: args.nats,
                    local_contracts: args.proto,
                    headers,
                },
                printer,
            )
        }
        Command::Routes => routes::run(&cwd).map(|()| ExitCode::SUCCESS),
        Command::Upgrade(args) => upgrade::run(
            &upgrade::Options {
                cwd: cwd.clone(),
                check: args.check,
                force: args.force,
            },
            printer,
        ),
        Command::Completions(args) => {
            let mut command = <crate::cli::Cli as clap::CommandFactory>::command();
            clap_complete::generate(args.shell, &mut command, "micro", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => run::run(
            &run::Options {
                cwd: match args.dir {
                    Some(dir) => cwd.join(dir),
                    None => cwd.clone(),
                },
                workdir: args.work.map(|work| cwd.join(work)),
                release: args.release,
                args: args.args,
                packages: args.package,
                bin: args.bin,
                watch: args.watch,
                asking: new::choices::Asking::detect(false),
            },
            printer,
        ),
    }
}
