//! Renders the templates embedded in the binary: `templates/service/` for `micro new` and
//! `templates/proto/` for `micro proto add`. Files ending in `.tera` are rendered with the
//! template context and lose that suffix (one that renders to nothing is left out, which is how
//! options add files); every other file is copied as it is.

use anyhow::Context as _;
use heck::{ToShoutySnakeCase, ToSnakeCase};
use include_dir::{Dir, include_dir};
use tera::{Context, Tera};

use crate::cli::{Auth, Messaging, Registry, Storage, Transport};
use crate::codegen::GeneratedFile;

static SERVICE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../templates/service");
static PROTO: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../templates/proto");

const TEMPLATE_SUFFIX: &str = ".tera";

/// What a new service is made from.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// The crate name, already validated.
    pub name: String,
    pub choices: Choices,
    /// Where the service sits in the Cargo workspace it joins, if any: its image is then built
    /// from the workspace root, which holds the shared runtime and lock file.
    pub workspace: Option<WorkspacePlace>,
}

/// A workspace member's place: its path from the workspace root (`services/orders`) and the way
/// back (`../..`).
#[derive(Debug, Clone)]
pub struct WorkspacePlace {
    pub member: String,
    pub root: String,
}

/// The choices a new service is made with; each is a template variable named like its flag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Choices {
    pub storage: Storage,
    pub messaging: Messaging,
    pub auth: Auth,
    pub transport: Transports,
    pub registry: Registry,
    /// HTTP and gRPC on one port (`server.mode: single`).
    pub one_port: bool,
}

/// The transports that serve a service's contracts. NATS hands its requests to the gRPC stack,
/// so it comes with gRPC; HTTP or gRPC (or both) always serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transports {
    pub http: bool,
    pub grpc: bool,
    pub nats: bool,
}

impl Default for Transports {
    fn default() -> Self {
        Transports {
            http: true,
            grpc: true,
            nats: false,
        }
    }
}

impl Transports {
    /// The combinations `micro new` offers on a terminal, the default first.
    pub const OFFERED: [Transports; 5] = [
        Transports::new(true, true, false),
        Transports::new(true, false, false),
        Transports::new(false, true, false),
        Transports::new(true, true, true),
        Transports::new(false, true, true),
    ];

    const fn new(http: bool, grpc: bool, nats: bool) -> Transports {
        Transports { http, grpc, nats }
    }

    /// The transports `--transport` names (`both` is `http,grpc`), or why they cannot serve.
    pub fn from_flags(flags: &[Transport]) -> anyhow::Result<Transports> {
        let has = |transport| {
            flags.contains(&transport)
                || (transport != Transport::Nats && flags.contains(&Transport::Both))
        };
        let transports = Transports::new(
            has(Transport::Http),
            has(Transport::Grpc),
            has(Transport::Nats),
        );
        if transports.nats && !transports.grpc {
            anyhow::bail!(
                "`--transport {}`: NATS hands its requests to the service's gRPC stack, so it needs gRPC too; \
                 try `--transport {}`",
                flags
                    .iter()
                    .map(|t| value_name(*t))
                    .collect::<Vec<_>>()
                    .join(","),
                Transports {
                    grpc: true,
                    ..transports
                }
            );
        }
        Ok(transports)
    }

    /// How the templates name the HTTP and gRPC part: `both`, `http` or `grpc`.
    fn mode(self) -> &'static str {
        match (self.http, self.grpc) {
            (true, false) => "http",
            (false, true) => "grpc",
            _ => "both",
        }
    }
}

impl std::fmt::Display for Transports {
    /// As `--transport` takes it: `http,grpc,nats`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            (self.http, "http"),
            (self.grpc, "grpc"),
            (self.nats, "nats"),
        ];
        let named: Vec<&str> = names
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| *name)
            .collect();
        f.write_str(&named.join(","))
    }
}

/// The name a choice has on the command line and in templates (`postgres`).
pub fn value_name<T: clap::ValueEnum>(value: T) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

/// Every file of a new service (contracts included, generated code not), sorted by path.
pub fn render_service(options: &ServiceOptions) -> anyhow::Result<Vec<GeneratedFile>> {
    let mut context = Context::new();
    context.insert("name", &options.name);
    context.insert("crate_name", &crate::names::crate_ident(&options.name));
    context.insert("micro_version", env!("CARGO_PKG_VERSION"));
    // Empty outside a workspace; templates test it as a condition.
    let (member, root) = options.workspace.as_ref().map_or(("", "."), |place| {
        (place.member.as_str(), place.root.as_str())
    });
    context.insert("workspace_member", member);
    context.insert("workspace_root", root);
    let Choices {
        storage,
        messaging,
        auth,
        transport,
        registry,
        one_port,
    } = options.choices;
    context.insert("storage", &value_name(storage));
    context.insert("messaging", &value_name(messaging));
    context.insert("auth", &value_name(auth));
    context.insert("transport", transport.mode());
    context.insert("nats_transport", &transport.nats);
    context.insert("registry", &value_name(registry));
    context.insert("one_port", &one_port);
    // Whether anything listens on the gRPC port (9000).
    context.insert("grpc_port", &(transport.grpc && !one_port));
    context.insert("grpc_listen_port", if one_port { "8000" } else { "9000" });
    let mut files = Vec::new();
    render_dir(&SERVICE, &context, &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// A new contract in `package` for a service that manages `resource`s
/// (`templates/proto/service.proto.tera`).
pub fn render_contract(package: &str, resource: &str) -> anyhow::Result<String> {
    let resource = resource.to_owned();
    let service = format!("{resource}Service");
    let plural = plural(&resource);
    let last = package.rsplit('.').next().unwrap_or(package);
    let is_version = last.len() > 1
        && last.starts_with('v')
        && last[1..].starts_with(|c: char| c.is_ascii_digit());
    let version_path = if is_version {
        last.to_owned()
    } else {
        package.replace('.', "/")
    };

    let mut context = Context::new();
    context.insert("package", package);
    context.insert("service", &service);
    context.insert("resource", &resource);
    context.insert("resource_plural", &plural);
    context.insert("resource_words", &plural.to_snake_case().replace('_', " "));
    context.insert("collection", &plural.to_snake_case().replace('_', "-"));
    context.insert("collection_field", &plural.to_snake_case());
    context.insert("error_prefix", &resource.to_shouty_snake_case());
    context.insert("version_path", &version_path);
    let template = PROTO
        .get_file("service.proto.tera")
        .and_then(|f| f.contents_utf8())
        .context("the contract template is missing from this build of micro")?;
    Tera::one_off(template, &context, false).context("rendering the contract template")
}

fn render_dir(
    dir: &Dir<'_>,
    context: &Context,
    out: &mut Vec<GeneratedFile>,
) -> anyhow::Result<()> {
    for file in dir.files() {
        let path = file.path();
        let text = file
            .contents_utf8()
            .with_context(|| format!("template `{}` is not UTF-8", path.display()))?;
        let name = path.to_string_lossy();
        if let Some(target) = name.strip_suffix(TEMPLATE_SUFFIX) {
            let contents = Tera::one_off(text, context, false)
                .with_context(|| format!("rendering template `{}`", path.display()))?;
            // A template that renders to nothing is a file this service does not have.
            if contents.trim().is_empty() {
                continue;
            }
            out.push(GeneratedFile {
                path: target.into(),
                contents,
            });
        } else {
            out.push(GeneratedFile {
                path: path.to_owned(),
                contents: text.to_owned(),
            });
        }
    }
    for sub in dir.dirs() {
        render_dir(sub, context, out)?;
    }
    Ok(())
}

/// English plural of a resource name, good enough for URL collections (`Order` → `Orders`).
fn plural(word: &str) -> String {
    let lower = word.to_lowercase();
    if lower.ends_with('y')
        && !lower.ends_with("ay")
        && !lower.ends_with("ey")
        && !lower.ends_with("oy")
    {
        format!("{}ies", &word[..word.len() - 1])
    } else if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|s| lower.ends_with(s))
    {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals() {
        assert_eq!(plural("Order"), "Orders");
        assert_eq!(plural("Category"), "Categories");
        assert_eq!(plural("Box"), "Boxes");
        assert_eq!(plural("Day"), "Days");
    }
}
