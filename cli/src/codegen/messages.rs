//! Messages, their proto3 JSON (serde) impls, and tonic's server and client, produced in memory by
//! prost-build, pbjson-build and tonic-prost-build from the compiled descriptors.

use std::collections::{BTreeMap, BTreeSet};

use prost_build::Module;
use prost_reflect::DescriptorPool;

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
    // prost needs every file to judge derives (e.g. `Eq`) across imports; only the packages asked
    // for are kept.
    let requests: Vec<_> = pool
        .files()
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
    config.service_generator(
        tonic_prost_build::configure()
            .build_client(true)
            .build_server(true)
            .build_transport(true)
            .service_generator(),
    );
    let generated = config.generate(requests)?;

    let mut out: BTreeMap<String, PackageCode> = BTreeMap::new();
    for (module, code) in generated {
        let package = module.parts().collect::<Vec<_>>().join(".");
        if let Some(package) = packages.iter().find(|p| names_match(p, &package)) {
            out.entry(package.clone()).or_default().messages = code;
        }
    }

    let descriptors = pool.encode_to_vec();
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
        out.entry(package).or_default().serde = String::from_utf8(code)?;
    }
    Ok(out)
}

/// prost and pbjson name packages by their module path; map that back to the proto package.
fn names_match(proto_package: &str, module_path: &str) -> bool {
    crate::names::package_modules(proto_package).join(".") == module_path
}
