//! Contracts nobody here wrote: real public contract sets from open-source projects (under
//! `tests/corpus/`, each with a `SOURCE.md` naming its repository, commit and paths) go through
//! `micro proto client` as a user would run it (`micro proto client api -I third_party`, no
//! `protoc` anywhere), and the generated code must build and pass clippy with warnings denied.
//!
//! Each set becomes one library crate that mounts only its generated `api` module; the crates
//! share one workspace, one lock file and the end-to-end tests' target folder, so the service
//! stack compiles once.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{
    GENERATED_CODE_DEPENDENCIES, cargo_in, copy_tree, micro, new_service, python_tool,
    scaffold_dependency_lines, transcript,
};

#[test]
fn public_contract_sets_generate_build_and_pass_clippy() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut sets: Vec<String> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    sets.sort();
    assert!(sets.len() >= 8, "the corpus has {} sets", sets.len());

    let work = tempfile::tempdir().unwrap();
    let dependencies = scaffold_dependency_lines(GENERATED_CODE_DEPENDENCIES);
    // The workspace first, so `micro proto client` vendors the runtime once, at its root.
    let members: Vec<String> = sets.iter().map(|s| format!("\"{s}\"")).collect();
    std::fs::write(
        work.path().join("Cargo.toml"),
        format!(
            "[workspace]\nresolver = \"3\"\nmembers = [{}]\n\n[workspace.dependencies]\n{dependencies}",
            members.join(", ")
        ),
    )
    .unwrap();
    for set in &sets {
        let source = corpus.join(set);
        assert!(
            source.join("SOURCE.md").is_file(),
            "{set} says where it comes from"
        );
        let crate_dir = work.path().join(set);
        copy_tree(&source.join("api"), &crate_dir.join("api"));
        let includes = source.join("third_party");
        if includes.is_dir() {
            copy_tree(&includes, &crate_dir.join("third_party"));
        }
        let workspace_deps: String = GENERATED_CODE_DEPENDENCIES
            .iter()
            .map(|name| format!("{name}.workspace = true\n"))
            .collect();
        std::fs::write(
            crate_dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"corpus-{set}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[lib]\npath = \"lib.rs\"\n\n[dependencies]\n{workspace_deps}"
            ),
        )
        .unwrap();
        std::fs::write(
            crate_dir.join("lib.rs"),
            "//! Only the generated code.\n\n#[rustfmt::skip]\npub mod api;\n",
        )
        .unwrap();

        let mut args = vec!["proto", "client", "api", "-q"];
        if includes.is_dir() {
            args.extend(["-I", "third_party"]);
        }
        let started = Instant::now();
        let output = micro(&crate_dir, &args);
        assert!(
            output.status.success(),
            "{set}: {}",
            transcript(&output, work.path())
        );
        eprintln!("{set}: generated in {:.2?}", started.elapsed());
        let document = crate_dir.join("api/openapi.json");
        let validator = python_tool("openapi-spec-validator==0.9.0", "openapi-spec-validator");
        let output = Command::new(&validator).arg(&document).output().unwrap();
        assert!(
            output.status.success(),
            "{set}: its OpenAPI document is not valid:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let started = Instant::now();
    let output = cargo_in(
        work.path(),
        &["clippy", "--workspace", "--quiet", "--", "-D", "warnings"],
    );
    assert!(
        output.status.success(),
        "the generated code of the corpus does not build cleanly:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!(
        "{} sets built and linted in {:.2?}",
        sets.len(),
        started.elapsed()
    );
}

/// The set with the richest HTTP rules (grpc-gateway's own examples: every binding shape, custom
/// verbs with colons, repeated path variables, all four streaming shapes) in a real service,
/// implemented by `micro proto server`'s stubs and served over real HTTP: every binding
/// `micro routes` lists must reach its method, which answers its typed `501 Unimplemented`.
#[test]
fn every_binding_of_the_gateway_set_reaches_its_method_over_http() {
    let set = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/grpc-gateway");
    let work = tempfile::tempdir().unwrap();
    let service = new_service(work.path(), "gateway");
    copy_tree(&set.join("api"), &service.join("api"));
    copy_tree(&set.join("third_party"), &service.join("third_party"));
    let manifest = service.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "# proto-include = [\"third_party\"]",
        "proto-include = [\"third_party\"]",
    );
    std::fs::write(&manifest, text).unwrap();
    let ok = |output: std::process::Output| {
        assert!(
            output.status.success(),
            "{}",
            transcript(&output, work.path())
        );
        output
    };
    ok(micro(&service, &["proto", "client", "-q"]));

    // A stub per service, from `micro proto server`, each contract's in a folder of its own.
    let contracts: Vec<PathBuf> = walkdir::WalkDir::new(service.join("api"))
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "proto"))
        .filter(|p| std::fs::read_to_string(p).unwrap().contains("\nservice "))
        .collect();
    let mut stubs = Vec::new();
    let mut stub_modules = String::new();
    for (index, contract) in contracts.iter().enumerate() {
        let folder = format!("src/stubs/s{index}");
        let relative = contract
            .strip_prefix(&service)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        ok(micro(
            &service,
            &["proto", "server", &relative, "-t", &folder, "-q"],
        ));
        let mut modules = String::new();
        for file in std::fs::read_dir(service.join(&folder)).unwrap() {
            let path = file.unwrap().path();
            let module = path.file_stem().unwrap().to_str().unwrap().to_owned();
            modules.push_str(&format!("pub mod {module};\n"));
            stubs.push((
                format!("s{index}::{module}"),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
        std::fs::write(service.join(&folder).join("mod.rs"), modules).unwrap();
        stub_modules.push_str(&format!("pub mod s{index};\n"));
    }
    std::fs::write(service.join("src/stubs/mod.rs"), stub_modules).unwrap();
    let lib = service.join("src/lib.rs");
    let lib_text = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        lib_text.replace("pub mod service;", "pub mod service;\npub mod stubs;"),
    )
    .unwrap();

    // Each service's router, by the gRPC name its stub says it implements.
    let mut routers = String::new();
    for (module, text) in &stubs {
        let full_name = text
            .split("Implements `")
            .nth(1)
            .and_then(|rest| rest.split('`').next())
            .expect("a stub names its service");
        let trait_use = text
            .lines()
            .find(|line| line.starts_with("use crate::api::") && line.contains("_server::"))
            .expect("a stub imports its trait");
        let server_module = trait_use
            .trim_start_matches("use crate::")
            .rsplit_once("::")
            .unwrap()
            .0;
        let http_module = server_module.replace("_server", "_http");
        let structure = text
            .lines()
            .find_map(|line| line.strip_prefix("pub struct "))
            .and_then(|rest| rest.split([' ', '{', ';']).next())
            .expect("a stub declares its type");
        let http_file = service
            .join(
                server_module
                    .rsplit_once("::")
                    .unwrap()
                    .0
                    .replace("::", "/"),
            )
            .join("http.rs");
        let has_routes = std::fs::read_to_string(&http_file).is_ok_and(|routes| {
            routes.contains(&format!(
                "pub mod {} ",
                http_module.rsplit("::").next().unwrap()
            ))
        });
        if has_routes {
            routers.push_str(&format!(
                "        \"{full_name}\" => Some(gateway::{http_module}::router(Arc::new(gateway::stubs::{module}::{structure}::default()))),\n"
            ));
        }
    }

    // Every binding, with its path variables filled in.
    let routes = String::from_utf8(ok(micro(&service, &["routes"])).stdout).unwrap();
    let mut lines = routes.lines();
    let header = lines.next().unwrap();
    let (http_at, notes_at) = (header.find("HTTP").unwrap(), header.find("NOTES").unwrap());
    let mut bindings = String::new();
    let mut operation = String::new();
    let mut count = 0;
    for line in lines {
        let column = |from: usize, to: usize| {
            line.get(from..to.min(line.len()))
                .unwrap_or("")
                .trim()
                .to_owned()
        };
        let named = column(0, http_at);
        if !named.is_empty() {
            operation = named;
        }
        let http = column(http_at, notes_at);
        let Some((verb, template)) = http.split_once(' ') else {
            continue; // gRPC only
        };
        let (service_name, method) = operation.trim_start_matches('/').split_once('/').unwrap();
        bindings.push_str(&format!(
            "    (\"{service_name}\", \"{method}\", \"{verb}\", \"{}\"),\n",
            sample_url(template)
        ));
        count += 1;
    }
    assert!(count > 100, "the gateway set binds {count} routes");
    std::fs::write(
        service.join("tests/gateway_routes.rs"),
        ROUTES_TEST
            .replace("    // BINDINGS\n", &bindings)
            .replace("        // ROUTERS\n", &routers),
    )
    .unwrap();

    let output = cargo_in(
        &service,
        &[
            "test",
            "--quiet",
            "--test",
            "gateway_routes",
            "--",
            "--nocapture",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "bindings of the gateway set do not reach their methods:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A URL for a path template: `1` for a one-segment variable, its pattern's shape for the others.
fn sample_url(template: &str) -> String {
    let mut url = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        url.push_str(&rest[..open]);
        let close = open + rest[open..].find('}').unwrap();
        let variable = &rest[open + 1..close];
        match variable.split_once('=') {
            Some((_, pattern)) => url.push_str(&pattern.replace("**", "x/y").replace('*', "x")),
            None => url.push('1'),
        }
        rest = &rest[close + 1..];
    }
    url.push_str(rest);
    url
}

/// The test run inside the service: each service's routes on a socket of their own, and every
/// binding requested over HTTP.
const ROUTES_TEST: &str = r#"//! Every HTTP binding of the gateway set, over real HTTP, against the stubs.

use std::collections::BTreeMap;
use std::sync::Arc;

const BINDINGS: &[(&str, &str, &str, &str)] = &[
    // BINDINGS
];

fn router(service: &str) -> Option<axum::Router> {
    match service {
        // ROUTERS
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_binding_reaches_its_method() {
    let mut ports = BTreeMap::new();
    for (service, ..) in BINDINGS {
        if ports.contains_key(service) {
            continue;
        }
        let router = router(service).unwrap_or_else(|| panic!("no routes for {service}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        ports.insert(*service, listener.local_addr().unwrap().port());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    }
    let client = reqwest::Client::new();
    let (mut reached, mut refused, mut failures) = (0, 0, Vec::new());
    for (service, method, verb, url) in BINDINGS {
        let mut request = client.request(
            reqwest::Method::from_bytes(verb.as_bytes()).unwrap(),
            format!("http://127.0.0.1:{}{url}", ports[service]),
        );
        if matches!(*verb, "POST" | "PUT" | "PATCH" | "DELETE") {
            request = request.header("content-type", "application/json").body("{}");
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        let typed: Option<serde_json::Value> = serde_json::from_str(&body).ok();
        let message = typed.as_ref().and_then(|v| v["message"].as_str()).unwrap_or("");
        let what = format!("{verb} {url} ({service}/{method}): {status} {body}");
        if status == 404 || status == 405 {
            failures.push(format!("not routed: {what}"));
        } else if *verb == "HEAD" {
            reached += usize::from(status == 501);
        } else if typed.as_ref().is_none_or(|v| !v["code"].is_number()) {
            failures.push(format!("not a typed answer: {what}"));
        } else if status == 501 && message.contains(&format!("`{method}`")) {
            reached += 1;
        } else if status == 501 {
            failures.push(format!("reached another method: {what}"));
        } else if status == 400 {
            refused += 1; // routed, and its sample values refused as the request's fields
            println!("  refused before the method: {what}");
        } else {
            failures.push(format!("unexpected: {what}"));
        }
    }
    println!(
        "{} bindings: {reached} reached their method, {refused} routed and refused as input, {} failed",
        BINDINGS.len(),
        failures.len()
    );
    for failure in &failures {
        println!("  {failure}");
    }
    assert!(failures.is_empty());
}
"#;
