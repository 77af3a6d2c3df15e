//! Every command-line type micro accepts. Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Scaffold Rust services that answer HTTP/JSON (axum) and gRPC (tonic) from one protobuf contract.
#[derive(Debug, Parser)]
#[command(
    name = "micro",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Print nothing but errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Also print what is usually left out: unchanged files, cargo's own progress lines, where
    /// `micro call` found the method.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new service: layered layout, config, a sample contract and its generated code.
    New(NewArgs),
    /// Work with `.proto` contracts: add one, generate code from them, or stub their services.
    Proto(ProtoArgs),
    /// Build and run a service of this project or workspace; `--watch` rebuilds it on changes.
    Run(RunArgs),
    /// Call one method of a running service with a JSON request, over gRPC, `--http` or `--nats`.
    Call(CallArgs),
    /// List every operation of the project's contracts with its gRPC name and HTTP bindings.
    Routes,
    /// Replace the service's vendored runtime with this micro's and regenerate every contract.
    Upgrade(UpgradeArgs),
    /// Print micro's completion script for a shell.
    #[command(
        after_help = "Install, e.g.:\n  bash: micro completions bash > ~/.local/share/bash-completion/completions/micro\n  zsh:  micro completions zsh > ~/.zfunc/_micro   (with fpath+=~/.zfunc before compinit)\n  fish: micro completions fish > ~/.config/fish/completions/micro.fish"
    )]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  micro call helloworld.v1.Greeter/SayHello '{\"name\": \"Ada\"}'\n  micro call localhost:9001 order.v1.OrderService/GetOrder '{\"order_id\": \"…\"}'\n  micro call --http order.v1.OrderService/ListOrders '{\"user_id\": \"user_123\"}'\n  micro call --nats helloworld.v1.Greeter/SayHello '{\"name\": \"Ada\"}'"
)]
pub struct CallArgs {
    /// `[ADDR] package.Service/Method [JSON]`: the address (default localhost:9000, or :8000 with
    /// `--http`; `discovery:///name` finds one through the project's registry), the method (with
    /// `--nats`, or a whole subject such as `micro.helloworld.v1.Greeter.SayHello`), and the
    /// request in proto3 JSON (default `{}`; `-` reads stdin).
    #[arg(num_args = 1..=3, required = true, value_name = "ARGS")]
    pub args: Vec<String>,

    /// Call the method's HTTP binding (from the project's contracts) instead of gRPC.
    #[arg(long, conflicts_with = "nats")]
    pub http: bool,

    /// Call the method over NATS request-reply instead of gRPC: ADDR is the NATS server (default
    /// the project's `server.nats.url`, else nats://localhost:4222), the subject
    /// `{prefix}.{package}.{Service}.{Method}` (prefix from `server.nats.prefix`, else `micro`).
    #[arg(long, conflicts_with = "proto")]
    pub nats: bool,

    /// Describe the method from the project's contracts instead of the server's reflection.
    #[arg(long)]
    pub proto: bool,

    /// A header (gRPC metadata) to send, as `name: value`; may be repeated.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Write nothing; exit 1 if the vendored runtime or any generated file is not what this
    /// micro writes (for CI).
    #[arg(long)]
    pub check: bool,

    /// Replace the vendored runtime even if someone edited it.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The service's name, which is also its crate name (e.g. `order-service`).
    pub name: String,

    /// The folder to create the service in [default: the current folder].
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,

    /// Ask nothing: every choice not given by a flag takes its default (as without a terminal).
    #[arg(short, long)]
    pub yes: bool,

    /// Write into the target folder even if it is not empty, replacing files of the same name.
    #[arg(long)]
    pub force: bool,

    /// Inside a Cargo workspace, do not add the service to its members or inherit its
    /// `[workspace.dependencies]`.
    #[arg(long)]
    pub no_workspace: bool,

    /// Where the service keeps its data [default: none; asked on a terminal].
    #[arg(long, value_enum)]
    pub storage: Option<Storage>,

    /// How the service publishes events [default: none; asked on a terminal].
    #[arg(long, value_enum)]
    pub messaging: Option<Messaging>,

    /// How callers authenticate [default: none; asked on a terminal].
    #[arg(long, value_enum)]
    pub auth: Option<Auth>,

    /// Which transports serve the contracts, comma-separated (`http,grpc,nats`) [default:
    /// http,grpc; asked on a terminal].
    #[arg(long, value_enum, value_delimiter = ',', value_name = "TRANSPORT,...")]
    pub transport: Vec<Transport>,

    /// Serve HTTP/JSON and gRPC on one port, told apart by content type (`server.mode: single`
    /// in the configuration; it can be switched either way there): for platforms that give a
    /// service a single port. Needs gRPC among the transports.
    #[arg(long)]
    pub one_port: bool,

    /// Where the service registers itself and finds the services it calls [default: none; asked
    /// on a terminal].
    #[arg(long, value_enum)]
    pub registry: Option<Registry>,

    /// Make the service from a cargo-generate template instead of micro's own: a folder, or a git
    /// URL (`-r`/`--repo`, as kratos' layout repository; `gh:OWNER/REPO` and `gl:`, `bb:`, `sr:`
    /// abbreviate hosts), cloned with the `git` program. Its placeholders are asked on a terminal
    /// and take their defaults otherwise.
    #[arg(
        short = 'r',
        long,
        visible_alias = "repo",
        value_name = "PATH|GIT_URL",
        conflicts_with_all = ["storage", "messaging", "auth", "transport", "one_port", "registry"]
    )]
    pub template: Option<String>,

    /// The git branch of `--template` to use.
    #[arg(short = 'b', long, requires = "template")]
    pub branch: Option<String>,
}

// The `///` on each variant is its help text and its line in `micro new`'s prompts.

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Storage {
    /// In memory, gone at exit
    #[default]
    None,
    /// An SQLite file under ./data (sqlx, compiled in)
    Sqlite,
    /// PostgreSQL (sqlx), migrations run at start-up
    Postgres,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Messaging {
    /// No events
    #[default]
    None,
    /// Events published to NATS, and a JetStream consumer of them
    Nats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// HTTP/JSON on :8000
    Http,
    /// gRPC on :9000 (without HTTP, :8000 keeps health, readiness and metrics)
    Grpc,
    /// NATS request-reply, a NATS micro service beside gRPC
    Nats,
    /// HTTP and gRPC (the default; the same as `http,grpc`)
    Both,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Registry {
    /// None: peers are called by URL
    #[default]
    None,
    /// etcd, under a lease, in kratos' layout (Go kratos services share it)
    Etcd,
    /// DNS: each peer a name (a Kubernetes headless Service)
    Dns,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Auth {
    /// Every caller is served
    #[default]
    None,
    /// Bearer JWTs (HS256 secret, RS256/ES256 public key or JWKS), roles from the contract
    Jwt,
    /// API keys (stored hashed), roles from the contract
    #[value(name = "apikey")]
    ApiKey,
    /// Bearer JWTs or API keys
    Both,
}

#[derive(Debug, Args)]
pub struct ProtoArgs {
    #[command(subcommand)]
    pub command: ProtoCommand,
}

#[derive(Debug, Subcommand)]
pub enum ProtoCommand {
    /// Add a contract from a template: package from its folder, a CRUD service named after the file.
    Add(ProtoAddArgs),
    /// Generate messages, gRPC client and server, and HTTP routes from contracts.
    Client(ProtoClientArgs),
    /// Generate an implementation skeleton for each service of a contract; an existing one gains
    /// only stubs for the RPCs it lacks.
    Server(ProtoServerArgs),
    /// Check contracts against naming, layout, HTTP, error and validation rules; exit 1 on
    /// findings.
    Lint(ProtoLintArgs),
    /// Compare the contracts with those at a git revision; exit 1 on changes that break clients
    /// (wire, JSON or HTTP).
    Breaking(ProtoBreakingArgs),
}

#[derive(Debug, Args)]
pub struct ProtoBreakingArgs {
    /// The branch, tag or commit whose contracts clients were built on, e.g. `main`.
    #[arg(long, value_name = "GIT_REF")]
    pub against: String,

    /// Another folder to resolve imports from (after `api/`); may be repeated.
    #[arg(short = 'I', long = "include", value_name = "DIR")]
    pub includes: Vec<PathBuf>,

    /// `text` for people, `json` (an array of findings) for tools.
    #[arg(long, value_enum, default_value_t = LintFormat::Text)]
    pub format: LintFormat,
}

#[derive(Debug, Args)]
pub struct ProtoLintArgs {
    /// A contract, or a folder of them [default: the project's `api/` folder].
    pub path: Option<PathBuf>,

    /// Another folder to resolve imports from (after `api/`); may be repeated.
    #[arg(short = 'I', long = "include", value_name = "DIR")]
    pub includes: Vec<PathBuf>,

    /// `text` for people, `json` (an array of findings) for tools.
    #[arg(long, value_enum, default_value_t = LintFormat::Text)]
    pub format: LintFormat,

    /// List the rules and what each asks for, then exit.
    #[arg(long)]
    pub rules: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LintFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ProtoAddArgs {
    /// Where to create the contract, e.g. `api/order/v1/order.proto`.
    pub file: PathBuf,

    /// Write the contract even where it leaves the project's `api/` folder.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ProtoClientArgs {
    /// A contract, or a folder of them [default: the project's `api/` folder].
    pub path: Option<PathBuf>,

    /// Another folder to resolve imports from (after `api/`); may be repeated.
    #[arg(short = 'I', long = "include", value_name = "DIR")]
    pub includes: Vec<PathBuf>,

    /// Write nothing; exit 1 and list the generated files that are out of date (for CI).
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct ProtoServerArgs {
    /// The contract whose services to implement.
    pub file: PathBuf,

    /// The folder to write the implementations to.
    #[arg(
        short = 't',
        long = "target-dir",
        value_name = "DIR",
        default_value = "src/service"
    )]
    pub target_dir: PathBuf,

    /// Another folder to resolve imports from (after `api/`); may be repeated.
    #[arg(short = 'I', long = "include", value_name = "DIR")]
    pub includes: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The service's folder, or a folder inside it, as `kratos run DIR` takes it [default: the
    /// current folder].
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Build with optimizations.
    #[arg(long)]
    pub release: bool,

    /// Rebuild and restart on changes to `.rs`, `.proto` (regenerating their code first),
    /// `Cargo.toml` and `configs/`; a failed build keeps the running service. (`-w` is kratos'
    /// work directory, hence `-W`.)
    #[arg(short = 'W', long)]
    pub watch: bool,

    /// The folder the service runs in, where its relative paths such as `configs/config.yaml`
    /// resolve, as kratos' `-w` [default: the service's own folder].
    #[arg(short = 'w', long = "work", value_name = "DIR")]
    pub work: Option<PathBuf>,

    /// The package to run, in a workspace with several services. Given more than once, runs
    /// those services together: their output prefixed by their names, signals sent to all, and
    /// all stopped when one exits.
    #[arg(short, long, value_name = "PACKAGE")]
    pub package: Vec<String>,

    /// The binary to run, in a package with several.
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,

    /// Arguments for the service itself, after `--`.
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The book's CLI reference page is generated from the types above; this fails when it is
    /// stale. `MICRO_UPDATE_BOOK=1 cargo test -p micro-cli cli_reference` rewrites it.
    #[test]
    fn the_books_cli_reference_is_current() {
        let options = clap_markdown::MarkdownOptions::new()
            .title("CLI reference".to_owned())
            .show_footer(false);
        let generated = format!(
            "<!-- Generated from cli/src/cli.rs by a test; edit the doc comments there, then run\n     MICRO_UPDATE_BOOK=1 cargo test -p micro-cli cli_reference -->\n\n{}",
            // Help texts note their defaults as `[default: …]` and aliases as `[alias: …]`,
            // which Markdown would read as link references; escaped, the page shows them as
            // written.
            clap_markdown::help_markdown_custom::<super::Cli>(&options)
                .replace(" [default: ", r" \[default: ")
                .replace(" [alias: ", r" \[alias: ")
        );
        let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("../book/src/reference/cli.md");
        if std::env::var_os("MICRO_UPDATE_BOOK").is_some() {
            std::fs::write(&page, &generated).unwrap();
            return;
        }
        let current = std::fs::read_to_string(&page).unwrap_or_default();
        assert!(
            current == generated,
            "book/src/reference/cli.md is stale; run `MICRO_UPDATE_BOOK=1 cargo test -p micro-cli cli_reference`"
        );
    }
}
