//! Messages, their proto3 JSON (serde) impls, and tonic's server and client, produced in memory by
//! prost-build, pbjson-build and tonic-build from the compiled descriptors.

use std::collections::{BTreeMap, BTreeSet};

use prost_build::Module;
use prost_reflect::DescriptorPool;
use quote::ToTokens as _;

/// The generated Rust of one proto package.
#[derive(Debug, Default)]
pub struct PackageCode {
    /// Messages, enums, and the tonic client and server modules.
    pub messages: String,
    /// `serde` impls that follow the proto3 JSON mapping.
    pub serde: String,
}

/// Generates the message, JSON and gRPC code of every package in `packages`.
pub fn generate(
    pool: &DescriptorPool,
    packages: &BTreeSet<String>,
    options: &super::Options,
) -> anyhow::Result<BTreeMap<String, PackageCode>> {
    // prost needs the imported files too, to judge derives (e.g. `Eq`) across imports; only the
    // packages asked for are kept. Files nothing asked for imports are left out: generating them
    // would cost as much as what is kept.
    let closure = closure(pool, packages);
    let requests: Vec<_> = pool
        .files()
        .filter(|file| closure.contains(file.name()))
        .map(|file| {
            (
                Module::from_protobuf_package_name(file.package_name()),
                file.file_descriptor_proto().clone(),
            )
        })
        .collect();

    let mut config = prost_build::Config::new();
    // Well-known types come from pbjson-types, which carries their proto3 JSON forms; prost's own
    // mapping would turn `google.protobuf.Empty` into `()`, which has no JSON object form.
    config
        .compile_well_known_types()
        .extern_path(".google.protobuf", "::pbjson_types");
    config.service_generator(Box::new(TonicServices));
    let generated = config.generate(requests)?;

    let mut out: BTreeMap<String, PackageCode> = BTreeMap::new();
    for (module, code) in generated {
        let package = module.parts().collect::<Vec<_>>().join(".");
        if let Some(package) = packages.iter().find(|p| names_match(p, &package)) {
            out.entry(package.clone()).or_default().messages = repair(code);
        }
    }

    // google.protobuf.FileDescriptorSet { repeated FileDescriptorProto file = 1; }, of the same
    // files, each encoded by prost-reflect (which keeps the options' extensions).
    let mut descriptors = Vec::new();
    for file in pool.files().filter(|file| closure.contains(file.name())) {
        prost::encoding::bytes::encode(1, &file.encode_to_vec(), &mut descriptors);
    }
    let prefixes: Vec<String> = packages.iter().map(|p| format!(".{p}")).collect();
    let mut json = pbjson_build::Builder::new();
    json.register_descriptors(&descriptors)?
        .extern_path(".google.protobuf", "::pbjson_types")
        .emit_fields()
        .ignore_unknown_fields();
    if options.proto_field_names {
        json.preserve_proto_field_names();
    }
    let serde = json.generate(&prefixes, |_| Ok(Vec::new()))?;
    for (package, code) in serde {
        let package = package.to_string();
        let package = packages
            .iter()
            .find(|p| names_match(p, &package))
            .cloned()
            .unwrap_or(package);
        let renamed = renamed_oneofs(pool, &package);
        let code = repair_oneofs(String::from_utf8(code)?, &renamed);
        out.entry(package).or_default().serde = repair(code);
    }
    Ok(out)
}

/// tonic's client and server for each service, as tonic-prost-build 0.14 writes them (the same
/// builder settings, codec and type paths), less its own formatting: it parses and pretty-prints
/// every service's code, which prost-build then parses and pretty-prints again with the whole
/// file, and that first pass cost a quarter of a full generation.
struct TonicServices;

impl prost_build::ServiceGenerator for TonicServices {
    fn generate(&mut self, service: prost_build::Service, buf: &mut String) {
        let service = TonicService::from(service);
        let mut builder = tonic_build::CodeGenBuilder::new();
        builder.emit_package(true).build_transport(true);
        let mut code = builder.generate_client(&service, "super");
        code.extend(builder.generate_server(&service, "super"));
        buf.push_str(&code.to_string());
    }
}

/// A service prost-build read, as tonic's generator takes it.
struct TonicService {
    service: prost_build::Service,
    methods: Vec<TonicMethod>,
}

struct TonicMethod(prost_build::Method);

impl From<prost_build::Service> for TonicService {
    fn from(mut service: prost_build::Service) -> Self {
        let methods = std::mem::take(&mut service.methods)
            .into_iter()
            .map(TonicMethod)
            .collect();
        TonicService { service, methods }
    }
}

impl tonic_build::Service for TonicService {
    type Comment = String;
    type Method = TonicMethod;

    fn name(&self) -> &str {
        &self.service.name
    }

    fn package(&self) -> &str {
        &self.service.package
    }

    fn identifier(&self) -> &str {
        &self.service.proto_name
    }

    fn methods(&self) -> &[TonicMethod] {
        &self.methods
    }

    fn comment(&self) -> &[String] {
        &self.service.comments.leading
    }
}

impl tonic_build::Method for TonicMethod {
    type Comment = String;

    fn name(&self) -> &str {
        &self.0.name
    }

    fn identifier(&self) -> &str {
        &self.0.proto_name
    }

    fn codec_path(&self) -> &str {
        "tonic_prost::ProstCodec"
    }

    fn client_streaming(&self) -> bool {
        self.0.client_streaming
    }

    fn server_streaming(&self) -> bool {
        self.0.server_streaming
    }

    fn comment(&self) -> &[String] {
        &self.0.comments.leading
    }

    fn deprecated(&self) -> bool {
        self.0.options.deprecated()
    }

    /// The request and response types from inside the client and server modules: an extern
    /// path as it is (every `google.protobuf` type is one here, mapped to pbjson-types), a type
    /// of the contracts through `proto_path` (the package's module).
    fn request_response_name(
        &self,
        proto_path: &str,
        _compile_well_known_types: bool,
    ) -> (proc_macro2::TokenStream, proc_macro2::TokenStream) {
        let path = |rust_type: &str| -> proc_macro2::TokenStream {
            let path = if rust_type.starts_with("::") || rust_type.starts_with("crate::") {
                rust_type.to_owned()
            } else {
                format!("{proto_path}::{}", rust_type.replace('.', "::"))
            };
            path.parse().expect("prost-build names types by Rust paths")
        };
        (path(&self.0.input_type), path(&self.0.output_type))
    }
}

/// The names of the files of `packages` and of every file they import, directly or not.
pub fn closure(pool: &DescriptorPool, packages: &BTreeSet<String>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut pending: Vec<_> = pool
        .files()
        .filter(|file| packages.contains(file.package_name()))
        .collect();
    while let Some(file) = pending.pop() {
        if names.insert(file.name().to_owned()) {
            pending.extend(file.dependencies());
        }
    }
    names
}

/// prost and pbjson name packages by their module path; map that back to the proto package.
fn names_match(proto_package: &str, module_path: &str) -> bool {
    crate::names::package_modules(proto_package).join(".") == module_path
}

/// Repairs the identifiers prost and pbjson get wrong for some contracts, so that any contract's
/// code builds: a field named `gen` (a keyword since the 2024 edition, which they predate) becomes
/// `r#gen`, and an enum value `SELF`, which prost names `Self_`, is no longer written `Enum::Self`
/// by pbjson. Code that needs neither is returned as it came.
fn repair(code: String) -> String {
    use syn::visit_mut::VisitMut;

    struct Repair;
    impl VisitMut for Repair {
        fn visit_ident_mut(&mut self, ident: &mut proc_macro2::Ident) {
            if ident == "gen" {
                *ident = proc_macro2::Ident::new_raw("gen", ident.span());
            }
        }

        fn visit_path_mut(&mut self, path: &mut syn::Path) {
            for segment in path.segments.iter_mut().skip(1) {
                if segment.ident == "Self" {
                    segment.ident = proc_macro2::Ident::new("Self_", segment.ident.span());
                }
            }
            syn::visit_mut::visit_path_mut(self, path);
        }
    }

    let self_variant = memchr::memmem::find_iter(code.as_bytes(), "::Self")
        .any(|at| !ident_char(code[at + "::Self".len()..].chars().next()));
    if !self_variant && !has_word(&code, "gen") {
        return code;
    }
    match syn::parse_file(&code) {
        Ok(mut file) => {
            Repair.visit_file_mut(&mut file);
            prettyplease::unparse(&file)
        }
        Err(_) => code,
    }
}

/// A oneof whose enum prost named apart from the oneof (see [`layout::oneof_enum_name`]), as
/// pbjson's code refers to it: inside the impls for `message` (its path in the package's module),
/// `pbjson_path::Variant` means the enum `renamed` for each of the oneof's `variants`.
///
/// [`layout::oneof_enum_name`]: crate::layout::oneof_enum_name
struct RenamedOneof {
    message: String,
    pbjson_path: String,
    renamed: String,
    variants: BTreeSet<String>,
}

/// The oneofs of `package` whose enum prost renamed because a nested type has the oneof's name.
fn renamed_oneofs(pool: &DescriptorPool, package: &str) -> Vec<RenamedOneof> {
    let mut out = Vec::new();
    for message in pool.all_messages().filter(|m| m.package_name() == package) {
        for oneof in message.oneofs().filter(|o| !o.is_synthetic()) {
            let name = crate::names::upper_camel(oneof.name());
            let renamed = crate::layout::oneof_enum_name(&message, &oneof);
            if renamed == name {
                continue;
            }
            out.push(RenamedOneof {
                message: crate::layout::local_path(&message),
                pbjson_path: crate::layout::nested_path(&message, &name),
                renamed,
                variants: oneof
                    .fields()
                    .map(|f| crate::names::upper_camel(f.name()))
                    .collect(),
            });
        }
    }
    out
}

/// Points pbjson's references to the oneofs in `renamed` at the enums prost made: pbjson names a
/// oneof's enum after the oneof whatever is nested beside it, so its code would name the nested
/// type instead, and not build.
fn repair_oneofs(code: String, renamed: &[RenamedOneof]) -> String {
    use syn::visit_mut::VisitMut;

    struct InImpl<'a>(&'a RenamedOneof);
    impl VisitMut for InImpl<'_> {
        fn visit_path_mut(&mut self, path: &mut syn::Path) {
            let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            if let Some((variant, enum_path)) = segments.split_last()
                && self.0.variants.contains(variant)
                && enum_path.join("::") == self.0.pbjson_path
            {
                let at = enum_path.len() - 1;
                let ident = &mut path.segments[at].ident;
                *ident = proc_macro2::Ident::new(&self.0.renamed, ident.span());
            }
            syn::visit_mut::visit_path_mut(self, path);
        }
    }

    if renamed.is_empty() {
        return code;
    }
    let Ok(mut file) = syn::parse_file(&code) else {
        return code;
    };
    for item in &mut file.items {
        let syn::Item::Impl(block) = item else {
            continue;
        };
        let self_type = block.self_ty.to_token_stream().to_string().replace(' ', "");
        for oneof in renamed.iter().filter(|o| o.message == self_type) {
            InImpl(oneof).visit_item_impl_mut(block);
        }
    }
    prettyplease::unparse(&file)
}

/// Whether `word` stands in `code` as a whole identifier (not raw already).
fn has_word(code: &str, word: &str) -> bool {
    // memchr's searcher: this scans every generated file, megabytes for a large contract set.
    memchr::memmem::find_iter(code.as_bytes(), word).any(|at| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        !ident_char(before) && !ident_char(after) && !code[..at].ends_with("r#")
    })
}

fn ident_char(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}
