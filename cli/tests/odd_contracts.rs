//! Generation never panics: contracts written to trip a generator (Rust keywords and generated
//! names as proto names, deep nesting, a huge enum, comments that are not Markdown, every scalar
//! as a path variable, and contracts assembled at random from such pieces) each give a clean
//! result or an error that names `file:line:col`. Those that generate are then built together
//! and linted with warnings denied.

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::{micro, new_service, transcript};

/// Names that are keywords, prelude types or items the generated modules define themselves.
const AWKWARD_NAMES: &[&str] = &[
    "type", "self", "super", "crate", "async", "await", "dyn", "match", "fn", "impl", "mod",
    "loop", "ref", "box", "move", "where", "use", "try", "gen", "abstract", "final", "union",
    "len", "is_empty", "clone", "default", "new", "into", "from", "validate", "router", "client",
    "error", "result", "option", "string", "vec", "request", "response", "status", "state",
];

const AWKWARD_TYPES: &[&str] = &[
    "Option", "Result", "String", "Vec", "Box", "Error", "Validate", "Client", "Router", "Self_",
    "Type", "Request", "Response", "Status", "Default", "Clone", "Message", "Service",
];

const SCALARS: &[&str] = &[
    "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32",
    "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes",
];

const HEADER: &str = "syntax = \"proto3\";\n\nimport \"google/api/annotations.proto\";\nimport \"google/protobuf/timestamp.proto\";\nimport \"validate/validate.proto\";\n\n";

/// Comments no Markdown renderer or rustdoc expects: lists without blank lines, indented code
/// (a doc test, if taken literally), HTML, brackets, unicode.
const ODD_COMMENT: &str = "// Résumé — 日本語 — עברית — 🚀\n// - a list item\n// continued lazily\n//     fn main() { panic!() }\n// <b>bold</b> [not a link] `code` */ \\ \"quotes\"\n//\ttabbed\n";

/// A small deterministic generator (xorshift), so a failing case can be reproduced by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The hand-written odd contracts, by package.
fn crafted() -> Vec<(String, String)> {
    let mut cases = Vec::new();

    // Keywords and awkward names everywhere.
    let mut text = format!("{HEADER}package keywords.v1;\n\n{ODD_COMMENT}service Impl {{\n");
    for (i, name) in [
        "Match",
        "Self_",
        "Router",
        "NewRpc",
        "WithHttp",
        "Dispatch0",
    ]
    .iter()
    .enumerate()
    {
        writeln!(
            text,
            "  {ODD_COMMENT}  rpc {name}(Self_) returns (Option) {{ option (google.api.http) = {{ post: \"/v1/k{i}/{{type}}\" body: \"*\" }}; }}"
        )
        .unwrap();
    }
    text.push_str("}\n\n");
    for ty in AWKWARD_TYPES {
        writeln!(text, "{ODD_COMMENT}message {ty} {{").unwrap();
        for (n, field) in AWKWARD_NAMES.iter().enumerate() {
            let rules = if n % 3 == 0 {
                " [(validate.rules).string.min_len = 1]"
            } else {
                ""
            };
            writeln!(text, "  {ODD_COMMENT}  string {field} = {};", n + 1).unwrap();
            if !rules.is_empty() {
                // Re-declare the last field with rules under another number and name.
                writeln!(text, "  string {field}_checked = {}{rules};", n + 100).unwrap();
            }
        }
        writeln!(
            text,
            "  enum Kind {{ KIND_UNSPECIFIED = 0; SELF = 1; TYPE = 2; }}"
        )
        .unwrap();
        writeln!(text, "  Kind kind = 500;\n}}\n").unwrap();
    }
    cases.push(("keywords.v1".to_owned(), text));

    // Twelve levels of nesting, each level referring to the outermost and to itself.
    let mut text = format!("{HEADER}package deep.v1;\n\nmessage Level0 {{\n");
    for depth in 1..=12 {
        writeln!(
            text,
            "{}message Level{depth} {{ Level0 root = 1; repeated Level{depth} again = 2; map<string, Level{depth}> by_name = 3; oneof pick {{ string text = 4; Level0 other = 5; }}",
            "  ".repeat(depth)
        )
        .unwrap();
    }
    for depth in (1..=12).rev() {
        writeln!(text, "{}}}", "  ".repeat(depth)).unwrap();
    }
    text.push_str("  Level1.Level2.Level3.Level4.Level5.Level6.Level7.Level8.Level9.Level10.Level11.Level12 deepest = 1;\n}\n");
    text.push_str("service Deep { rpc Get(Level0) returns (Level0) { option (google.api.http) = { get: \"/v1/deep/{deepest.text}\" }; } }\n");
    cases.push(("deep.v1".to_owned(), text));

    // A huge enum, which is also an error reason enum.
    let mut text = format!(
        "{HEADER}package huge.v1;\n\nimport \"errors/errors.proto\";\n\nenum ErrorReason {{\n  option (errors.default_code) = 500;\n  ERROR_REASON_UNSPECIFIED = 0;\n"
    );
    for i in 1..2000 {
        writeln!(
            text,
            "  REASON_{i} = {i} [(errors.code) = {}];",
            [400, 404, 409, 429, 503, 600, 999][i % 7]
        )
        .unwrap();
    }
    text.push_str("}\n\nmessage Holder { ErrorReason reason = 1 [(validate.rules).enum = {defined_only: true, not_in: [0]}]; }\n");
    cases.push(("huge.v1".to_owned(), text));

    // Every scalar as a path variable, and an enum and a timestamp.
    let mut text = format!(
        "{HEADER}package scalars.v1;\n\nenum Color {{ COLOR_UNSPECIFIED = 0; RED = 1; }}\n\nmessage AllScalars {{\n"
    );
    let mut path = String::from("/v1/all");
    for (n, scalar) in SCALARS.iter().enumerate() {
        writeln!(text, "  {scalar} f_{scalar} = {};", n + 1).unwrap();
        write!(path, "/{{f_{scalar}}}").unwrap();
    }
    writeln!(
        text,
        "  Color color = 50;\n  google.protobuf.Timestamp at = 51;\n  repeated int64 ids = 52;\n}}\n"
    )
    .unwrap();
    path.push_str("/{color}/{at}/{ids}:run:now");
    writeln!(
        text,
        "service Scalars {{ rpc Run(AllScalars) returns (AllScalars) {{ option (google.api.http) = {{ get: \"{path}\" }}; }} }}"
    )
    .unwrap();
    cases.push(("scalars.v1".to_owned(), text));

    // gogoproto's options everywhere (what Go projects' contracts carry), and bodies on GET and
    // DELETE.
    cases.push((
        "gogo.v1".to_owned(),
        format!(
            "{HEADER}package gogo.v1;\n\nimport \"gogoproto/gogo.proto\";\n\noption (gogoproto.marshaler_all) = true;\noption (gogoproto.sizer_all) = true;\n\n\
             message Item {{\n  option (gogoproto.goproto_getters) = false;\n  string id = 1 [(gogoproto.customname) = \"ID\", (gogoproto.moretags) = \"yaml:\\\"id\\\"\"];\n  google.protobuf.Timestamp at = 2 [(gogoproto.stdtime) = true, (gogoproto.nullable) = false];\n  bytes raw = 3 [(gogoproto.customtype) = \"Raw\"];\n}}\n\n\
             enum Color {{\n  option (gogoproto.goproto_enum_prefix) = false;\n  COLOR_UNSPECIFIED = 0 [(gogoproto.enumvalue_customname) = \"Unknown\"];\n}}\n\n\
             service Items {{\n  rpc Find(Item) returns (Item) {{ option (google.api.http) = {{ get: \"/v1/items/{{id}}\" body: \"*\" }}; }}\n  rpc Remove(Item) returns (Item) {{ option (google.api.http) = {{ delete: \"/v1/items/{{id}}\" body: \"*\" }}; }}\n}}\n"
        ),
    ));

    // What the JSON writers must lay out as prost does: the rarer well-known messages and enums
    // (written through the descriptors, or by a table), `NullValue` in every shape, a oneof of
    // them, deprecated fields.
    cases.push((
        "wkt.v1".to_owned(),
        format!(
            "{HEADER}package wkt.v1;\n\nimport \"google/protobuf/any.proto\";\nimport \"google/protobuf/api.proto\";\nimport \"google/protobuf/struct.proto\";\nimport \"google/protobuf/type.proto\";\n\n\
             message Everything {{\n  google.protobuf.Type type = 1;\n  repeated google.protobuf.Option options = 2;\n  map<string, google.protobuf.Api> apis = 3;\n\
             google.protobuf.Syntax syntax = 4;\n  repeated google.protobuf.Syntax syntaxes = 5;\n  map<int32, google.protobuf.Field.Kind> kinds = 6;\n\
             google.protobuf.NullValue nothing = 7;\n  repeated google.protobuf.NullValue nothings = 8;\n  map<bool, google.protobuf.NullValue> by_flag = 9;\n\
             optional google.protobuf.NullValue maybe = 10;\n  repeated google.protobuf.Any details = 11;\n  string old = 12 [deprecated = true];\n\
             oneof kind {{ google.protobuf.NullValue none = 13; google.protobuf.Syntax picked = 14; google.protobuf.Type typed = 15; string text = 16 [deprecated = true]; }}\n\
             }}\n\n\
             service Wkt {{\n  rpc Get(Everything) returns (Everything) {{ option (google.api.http) = {{ post: \"/v1/everything\" body: \"*\" }}; }}\n}}\n"
        ),
    ));
    // A oneof named as a type nested beside it: prost names its enum `KindOneOf`, and pbjson's
    // code must follow (also where a variant is named as a value of the nested enum). Its comment
    // holds an indented block, which rustdoc would run as a doc test unless it is fenced as text.
    cases.push((
        "clash.v1".to_owned(),
        format!(
            "{HEADER}package clash.v1;\n\n\
             // A shape, measured thus:\n//\n//     let area = shape.area();\n//\n// (an indented block: text, not a doc test).\n\
             message Shape {{\n  message Kind {{ string label = 1; }}\n  oneof kind {{ string circle = 1; Kind custom = 2; }}\n\
             Kind main = 3;\n  repeated Kind others = 4;\n\
             message Inner {{\n    enum Unit {{ UNIT_UNSPECIFIED = 0; CM = 1; }}\n    oneof unit {{ Unit cm = 1; string named = 2; }}\n    Unit preferred = 3;\n  }}\n\
             Inner inner = 5;\n}}\n\n\
             service Shapes {{\n  rpc Get(Shape) returns (Shape) {{ option (google.api.http) = {{ post: \"/v1/shapes\" body: \"*\" }}; }}\n}}\n"
        ),
    ));
    // proto2: `required` scalars and messages are plain values, `optional` ones `Option`s.
    cases.push((
        "legacy.v1".to_owned(),
        "syntax = \"proto2\";\n\npackage legacy.v1;\n\nimport \"google/api/annotations.proto\";\n\n\
         message Old {{\n  required string id = 1;\n  required int32 count = 2;\n  optional string note = 3 [default = \"none\"];\n\
         required Inner inner = 4;\n  repeated int64 values = 5;\n  enum State {{ NEW = 0; DONE = 1; }}\n  required State state = 6;\n\
         optional State maybe = 7;\n  message Inner {{ optional bool on = 1; }}\n  optional group Extra = 8 {{ optional string text = 9; }}\n}}\n\n\
         service Legacy {{\n  rpc Get(Old) returns (Old) {{ option (google.api.http) = {{ post: \"/v1/old\" body: \"*\" }}; }}\n}}\n"
            .replace("{{", "{")
            .replace("}}", "}"),
    ));

    // Contracts that are wrong in ways only micro can see: each must be an error with a place.
    cases.push((
        "wrong.v1".to_owned(),
        format!("{HEADER}package wrong.v1;\n\nmessage M {{ string id = 1; }}\nservice S {{ rpc Get(M) returns (M) {{ option (google.api.http) = {{ get: \"/v1/{{missing}}\" }}; }} }}\n"),
    ));
    cases.push((
        "badrule.v1".to_owned(),
        format!("{HEADER}package badrule.v1;\n\nmessage M {{ int32 id = 1 [(validate.rules).string.min_len = 1]; }}\n"),
    ));
    cases.push((
        "badpattern.v1".to_owned(),
        format!("{HEADER}package badpattern.v1;\n\nmessage M {{ string id = 1 [(validate.rules).string.pattern = \"([a-z\"]; }}\n"),
    ));
    cases
}

/// Contracts assembled at random from awkward pieces.
fn random(seed: u64, count: usize) -> Vec<(String, String)> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|case| {
            let package = format!("random{case}.v1");
            let mut text = format!("{HEADER}package {package};\n\n");
            let messages = 1 + rng.below(4) as usize;
            let mut names: Vec<String> = Vec::new();
            for m in 0..messages {
                let name = format!("{}{m}", rng.pick(AWKWARD_TYPES));
                writeln!(text, "{ODD_COMMENT}message {name} {{").unwrap();
                for number in 1..=1 + rng.below(6) {
                    let field = format!("{}_{number}", rng.pick(AWKWARD_NAMES));
                    let scalar = rng.pick(SCALARS);
                    let shape = rng.below(5);
                    let declaration = match shape {
                        0 => format!("repeated {scalar} {field} = {number}"),
                        1 => format!("optional {scalar} {field} = {number}"),
                        2 if !matches!(scalar, "double" | "float" | "bytes") => {
                            format!("map<{scalar}, string> {field} = {number}")
                        }
                        3 if !names.is_empty() => {
                            let other = &names[rng.below(names.len() as u64) as usize];
                            format!("{other} {field} = {number}")
                        }
                        _ => format!("{scalar} {field} = {number}"),
                    };
                    writeln!(text, "  {declaration};").unwrap();
                }
                writeln!(
                    text,
                    "  oneof choice_{m} {{ string a_{m} = 90; int64 b_{m} = 91; }}\n}}"
                )
                .unwrap();
                names.push(name);
            }
            let input = &names[0];
            let output = names.last().unwrap();
            let verb = ["get", "post", "put", "delete", "patch"][rng.below(5) as usize];
            let body = if verb == "get" || rng.below(2) == 0 {
                ""
            } else {
                " body: \"*\""
            };
            let stream_in = if rng.below(4) == 0 { "stream " } else { "" };
            let stream_out = if rng.below(4) == 0 { "stream " } else { "" };
            let service = ["Type", "Request", "Status", "Validate", "Client", "Router", "Self_", "Impl"]
                [rng.below(8) as usize];
            writeln!(
                text,
                "service {service} {{\n  rpc Call({stream_in}{input}) returns ({stream_out}{output}) {{ option (google.api.http) = {{ {verb}: \"/v1/r{case}/{{a_0}}:go\"{body} }}; }}\n  rpc Plain({input}) returns ({output});\n}}"
            )
            .unwrap();
            (package, text)
        })
        .collect()
}

#[test]
fn odd_contracts_generate_cleanly_or_fail_with_a_place() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let mut cases = crafted();
    cases.extend(random(0x5eed_cafe, 24));

    // Each alone: a clean result, or an error naming file:line:col. Never a panic.
    let mut generated = Vec::new();
    for (package, text) in &cases {
        let service = odd_service(work, &format!("odd-{}", package.replace('.', "-")));
        let file = contract_path(&service, package);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
        let output = micro(&service, &["proto", "client", "-q"]);
        let shown = transcript(&output, work);
        match output.status.code() {
            Some(0) => generated.push((package.clone(), text.clone())),
            Some(1) => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let placed = stderr.lines().any(|line| {
                    line.starts_with("error: ")
                        && line.contains(".proto:")
                        && line.split(".proto:").nth(1).is_some_and(|rest| {
                            let mut parts = rest.split(':');
                            parts.next().is_some_and(|l| l.parse::<u32>().is_ok())
                                && parts.next().is_some_and(|c| c.parse::<u32>().is_ok())
                        })
                });
                assert!(
                    placed,
                    "{package}: an error without file:line:col:\n{shown}"
                );
                eprintln!("{package}: refused: {}", stderr.trim());
            }
            _ => panic!("{package}: micro crashed:\n{shown}"),
        }
        std::fs::remove_dir_all(&service).unwrap();
    }
    for expected in ["keywords.v1", "deep.v1", "huge.v1", "scalars.v1", "gogo.v1"] {
        assert!(
            generated.iter().any(|(p, _)| p == expected),
            "{expected} generates"
        );
    }
    for refused in ["wrong.v1", "badrule.v1", "badpattern.v1"] {
        assert!(
            !generated.iter().any(|(p, _)| p == refused),
            "{refused} is refused"
        );
    }

    // Together, in one service: the generated code builds and passes clippy.
    let service = odd_service(work, "odd");
    for (package, text) in &generated {
        let file = contract_path(&service, package);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
    }
    let output = micro(&service, &["proto", "client", "-q"]);
    assert!(output.status.success(), "{}", transcript(&output, work));
    // Comments reach rustdoc as Markdown that means what it says: the indented line is text, not
    // a doc test that would fail the service's `cargo test`.
    let messages = contract_path(&service, "clash.v1").with_file_name("pb.rs");
    let messages = std::fs::read_to_string(messages).unwrap();
    assert!(
        messages.contains("/// ```text\n/// let area = shape.area();\n/// ```\n"),
        "an indented block in a comment is not fenced as text:\n{messages}"
    );
    let output = common::cargo_in(
        &service,
        &["clippy", "--quiet", "--lib", "--", "-D", "warnings"],
    );
    assert!(
        output.status.success(),
        "the odd contracts' code does not build cleanly:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!(
        "{} odd contracts: {} generated and built, {} refused with a place",
        cases.len(),
        generated.len(),
        cases.len() - generated.len()
    );
}

/// A new service that resolves imports from the fixtures' `third_party/` (gogoproto).
fn odd_service(work: &Path, name: &str) -> std::path::PathBuf {
    let service = new_service(work, name);
    common::copy_tree(
        &common::fixtures().join("third_party"),
        &service.join("third_party"),
    );
    let manifest = service.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "# proto-include = [\"third_party\"]",
        "proto-include = [\"third_party\"]",
    );
    std::fs::write(&manifest, text).unwrap();
    service
}

fn contract_path(service: &Path, package: &str) -> std::path::PathBuf {
    let mut path = service.join("api");
    for part in package.split('.') {
        path.push(part);
    }
    path.join("contract.proto")
}
