//! The whole path a user walks, with the real binary: `micro new` → a contract → `micro proto
//! client` / `micro proto server` → the project's own tests and clippy → `micro run` → answers
//! over HTTP and gRPC → SIGTERM → a clean exit. No `protoc` is reachable at any step.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    ECHO_SERVER_ARGS, OPTION_COMBINATIONS, TRICKY_SERVER_ARGS, add_echo_contract,
    add_tricky_contracts, fixtures, free_port, micro, new_service, python_tool, shared_target_dir,
    transcript,
};

#[derive(Clone, PartialEq, prost::Message)]
struct HelloRequest {
    #[prost(string, tag = "1")]
    name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct HelloReply {
    #[prost(string, tag = "1")]
    message: String,
}

#[test]
fn a_new_service_builds_runs_and_answers_http_and_grpc() {
    let work = tempfile::tempdir().unwrap();
    let ok = |output| succeeded(&output, work.path());
    let hello = new_service(work.path(), "hello");
    // The scaffold is rustfmt-clean as written (its generated `api` tree is skipped).
    cargo(&hello, &["fmt", "--check"]);

    // A second contract with every binding shape, generated from a subfolder, and stubbed.
    add_echo_contract(&hello);
    ok(micro(&hello.join("src"), &["proto", "client", "-q"]));
    ok(micro(&hello, ECHO_SERVER_ARGS));
    append(&hello.join("src/service/mod.rs"), "pub mod echo;\n");
    std::fs::copy(
        fixtures().join("echo_routes.rs"),
        hello.join("tests/echo.rs"),
    )
    .unwrap();

    // The greeter contract gains two RPCs: `micro proto server` adds their stubs, and only them,
    // to the implementation the scaffold wrote (which the project's tests then build).
    let contract = hello.join("api/helloworld/v1/greeter.proto");
    let text = std::fs::read_to_string(&contract).unwrap();
    let grown = text.replacen(
        "\n}\n",
        "\n  rpc SayGoodbye(HelloRequest) returns (HelloReply);\n  rpc GreetAll(HelloRequest) returns (stream HelloReply);\n}\n",
        1,
    );
    assert_ne!(grown, text);
    std::fs::write(&contract, grown).unwrap();
    ok(micro(&hello, &["proto", "client", "-q"]));
    let implementation = hello.join("src/service/greeter.rs");
    let before = std::fs::read_to_string(&implementation).unwrap();
    let added = micro(
        &hello,
        &["proto", "server", "api/helloworld/v1/greeter.proto"],
    );
    succeeded(&added, work.path());
    assert!(
        String::from_utf8_lossy(&added.stderr)
            .contains("Added `SayGoodbye`, `GreetAll` to `src/service/greeter.rs`"),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    // One insertion: what the file held before is its start and its end.
    let after = std::fs::read_to_string(&implementation).unwrap();
    let common = |a: &mut dyn Iterator<Item = (u8, u8)>| a.take_while(|(x, y)| x == y).count();
    let head = common(&mut before.bytes().zip(after.bytes()));
    let tail = common(&mut before.bytes().rev().zip(after.bytes().rev()));
    assert!(head + tail >= before.len(), "not one insertion:\n{after}");
    let inserted = &after[head..after.len() - (before.len() - head)];
    assert!(inserted.contains("async fn say_goodbye(") && inserted.contains("type GreetAllStream"));
    assert!(!inserted.contains("say_hello"), "{inserted}");

    // The project's own tests (greeter on both transports, every HTTP binding of the fixture,
    // `micro call` on its streaming method with this micro), and clippy with warnings denied over
    // everything, generated code included.
    cargo_with_env(
        &hello,
        &["test", "--quiet", "--tests"],
        &[("MICRO_BIN", env!("CARGO_BIN_EXE_micro"))],
    );
    cargo(
        &hello,
        &["clippy", "--quiet", "--all-targets", "--", "-D", "warnings"],
    );

    // Registered in the real etcd while it runs (the default scaffold says `kind: none`; the
    // environment turns it on), under a namespace of this test's own.
    let (http, grpc) = (free_port(), free_port());
    let namespace = format!("/micro-e2e-{}", std::process::id());
    let registry = [
        ("APP_REGISTRY__KIND", "etcd"),
        ("APP_REGISTRY__ETCD__NAMESPACE", namespace.as_str()),
        ("APP_REGISTRY__ADVERTISE_HOST", "127.0.0.1"),
    ];
    let mut service = MicroRun::start(&hello, http, grpc, &registry);
    service.wait_until_listening(http, Duration::from_secs(300));
    // The port is bound before the service registers: give it a moment.
    let start = Instant::now();
    let records = loop {
        let records = etcd_records(&format!("{namespace}/hello/"));
        if !records.is_empty() || start.elapsed() > Duration::from_secs(10) {
            break records;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(records.len(), 1, "{records:?}\n{}", service.logs());
    let record: serde_json::Value = serde_json::from_str(&records[0]).unwrap();
    assert_eq!(record["name"], "hello");
    assert_eq!(
        record["endpoints"],
        serde_json::json!([
            format!("grpc://127.0.0.1:{grpc}?isSecure=false"),
            format!("http://127.0.0.1:{http}?isSecure=false"),
        ])
    );

    let (status, body) = http_get(http, "/readyz");
    assert_eq!((status, body.as_str()), (200, "ready"));
    let (status, body) = http_get(http, "/helloworld/micro");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, r#"{"message":"Hello micro"}"#);
    let (status, body) = http_get(http, "/helloworld/%20");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains(r#""message":"a name is required""#), "{body}");

    let (status, page) = http_get(http, "/metrics");
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"operation="/helloworld.v1.Greeter/SayHello""#),
        "{page}"
    );

    // The API document, in both forms, passes a real OpenAPI 3 validator, and Swagger UI is served
    // from the binary itself.
    for form in ["json", "yaml"] {
        let (status, document) = http_get(http, &format!("/q/openapi.{form}"));
        assert_eq!(status, 200, "{document}");
        let saved = work.path().join(format!("served-openapi.{form}"));
        std::fs::write(&saved, &document).unwrap();
        validate_openapi(&saved);
    }
    let (status, page) = http_get(http, "/q/swagger-ui");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("/q/openapi.json"), "{page}");
    let (status, script) = http_get(http, "/q/swagger-ui/swagger-ui-bundle.js");
    assert_eq!(status, 200);
    assert!(script.contains("SwaggerUIBundle"));
    // And in a real browser it renders the operations and runs one from the page.
    swagger_ui_in_a_browser(http);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let reply = say_hello(grpc, "micro").await.unwrap();
        assert_eq!(reply.message, "Hello micro");
        let err = say_hello(grpc, "").await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    });

    // `micro call`: over gRPC, the method described by the server's reflection; over HTTP, by the
    // project's contracts. The same JSON either way, and the same typed error.
    let grpc_address = format!("127.0.0.1:{grpc}");
    let http_address = format!("127.0.0.1:{http}");
    let say_hello = "helloworld.v1.Greeter/SayHello";
    for transport in [vec![grpc_address.as_str()], vec!["--http", &http_address]] {
        let mut args = vec!["call"];
        args.extend(&transport);
        let reply = micro(
            &hello,
            &[args.as_slice(), &[say_hello, r#"{"name": "micro"}"#]].concat(),
        );
        succeeded(&reply, work.path());
        let reply: serde_json::Value = serde_json::from_slice(&reply.stdout).unwrap();
        assert_eq!(
            reply,
            serde_json::json!({"message": "Hello micro"}),
            "{transport:?}"
        );
        let refused = micro(
            &hello,
            &[args.as_slice(), &[say_hello, r#"{"name": " "}"#]].concat(),
        );
        assert_eq!(refused.status.code(), Some(1), "{transport:?}");
        let error: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
        assert_eq!(error["code"], 400, "{transport:?}: {error}");
        assert_eq!(
            error["message"], "a name is required",
            "{transport:?}: {error}"
        );
        assert!(String::from_utf8_lossy(&refused.stderr).contains("error: 400"));
    }

    let exit = service.terminate(Duration::from_secs(30));
    assert!(
        exit.success(),
        "the service exited with {exit} after SIGTERM"
    );
    // It left the registry on the way out, rather than waiting for its lease to expire.
    let records = etcd_records(&format!("{namespace}/hello/"));
    assert!(records.is_empty(), "still registered: {records:?}");
    // `APP_LOG__FORMAT=json` switched the logs to one JSON object per line.
    let logs = service.logs();
    let serving = logs
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON log line"))
        .find(|entry| entry["fields"]["message"] == "serving");
    assert!(serving.is_some(), "no JSON `serving` line in:\n{logs}");

    // One-port mode, switched on by configuration alone: curl over HTTP/1.1 and h2c, tonic
    // (`micro call`) and Python's grpcio, all on the HTTP port.
    let port = free_port();
    let mut single = MicroRun::start(&hello, port, free_port(), &[("APP_SERVER__MODE", "single")]);
    single.wait_until_listening(port, Duration::from_secs(120));
    one_port_answers_every_client(&hello, port);
    let exit = single.terminate(Duration::from_secs(30));
    assert!(exit.success(), "exited with {exit}:\n{}", single.logs());
}

/// The service on `port` (in one-port mode) answers curl over HTTP/1.1 and HTTP/2 (h2c), and
/// gRPC from tonic (`micro call`) and from Python's grpcio, the same reply and the same typed
/// error.
fn one_port_answers_every_client(service: &Path, port: u16) {
    let url = format!("http://127.0.0.1:{port}/helloworld/micro");
    for (version, flag) in [("1.1", "--http1.1"), ("2", "--http2-prior-knowledge")] {
        let output = Command::new("curl")
            .args(["-sS", flag, "-w", "\n%{http_version} %{http_code}", &url])
            .output()
            .expect("curl runs (`scripts/test` installs it)");
        let text = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            text,
            format!("{{\"message\":\"Hello micro\"}}\n{version} 200"),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let address = format!("127.0.0.1:{port}");
    let say_hello = "helloworld.v1.Greeter/SayHello";
    let reply = micro(
        service,
        &["call", &address, say_hello, r#"{"name": "tonic"}"#],
    );
    succeeded(&reply, service);
    let reply: serde_json::Value = serde_json::from_slice(&reply.stdout).unwrap();
    assert_eq!(reply, serde_json::json!({"message": "Hello tonic"}));

    let python = python_tool("grpcio-reflection==1.85.1", "python");
    let grpcio = |request: &str| {
        Command::new(&python)
            .arg(fixtures().join("grpcio_call.py"))
            .args([&address, say_hello, request])
            .output()
            .unwrap()
    };
    let reply = grpcio(r#"{"name": "grpcio"}"#);
    assert!(
        reply.status.success(),
        "{}{}",
        String::from_utf8_lossy(&reply.stdout),
        String::from_utf8_lossy(&reply.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&reply.stdout).unwrap();
    assert_eq!(json, serde_json::json!({"message": "Hello grpcio"}));
    let refused = grpcio(r#"{"name": ""}"#);
    assert_eq!(refused.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(json["code"], "INVALID_ARGUMENT", "{json}");
    assert_eq!(json["details"], "a name is required", "{json}");
}

/// The options beyond the default: SQLite alone, each single transport, and the fullest
/// combination (PostgreSQL, NATS events, JWTs and API keys, HTTP, gRPC and NATS, etcd). Each
/// service's own tests run against the real SQLite file, the PostgreSQL on 127.0.0.1:5432
/// (database `test`) and the NATS on 127.0.0.1:4222 (`.ci/run` makes sure both run); the fullest
/// then runs under `micro run` and answers `micro call` the same over its three transports.
#[test]
fn service_options_build_and_pass_their_tests() {
    let work = tempfile::tempdir().unwrap();
    let combinations = OPTION_COMBINATIONS.iter().filter(|(name, _)| {
        [
            "storage_sqlite",
            "transport_http",
            "transport_grpc",
            "fullest",
        ]
        .contains(name)
    });
    let (database, nats) = (postgres_url(), nats_url());
    for (name, flags) in combinations {
        let name = &name.replace('_', "-");
        let mut args = vec!["new", name, "-q"];
        args.extend_from_slice(flags);
        succeeded(&micro(work.path(), &args), work.path());
        let service = work.path().join(name);
        let mut env: Vec<(&str, &str)> = Vec::new();
        if flags.contains(&"postgres") {
            env.push(("APP_DATABASE__URL", &database));
        }
        if flags.contains(&"nats") {
            env.push(("APP_NATS__URL", &nats));
        }
        if flags.contains(&"http,grpc,nats") {
            env.push(("APP_SERVER__NATS__URL", &nats));
        }
        cargo(&service, &["fmt", "--check"]);
        cargo_with_env(&service, &["test", "--quiet", "--tests"], &env);
        cargo(
            &service,
            &["clippy", "--quiet", "--all-targets", "--", "-D", "warnings"],
        );
        if *name == "fullest" {
            answers_the_same_over_three_transports(&service, &env);
        }
    }
}

/// `micro call` over gRPC, HTTP and NATS against the running service: the same reply and the same
/// typed error from each, with the scaffold's development API key (`micro run` sets
/// `MICRO_ENV=development`).
fn answers_the_same_over_three_transports(service: &Path, env: &[(&str, &str)]) {
    let (http, grpc) = (free_port(), free_port());
    // Subjects and a registry namespace of this run's own, on the shared servers.
    let prefix = format!("e2e{}", std::process::id());
    let namespace = format!("/micro-e2e-nats-{}", std::process::id());
    let mut env = env.to_vec();
    env.extend([
        ("APP_SERVER__NATS__PREFIX", prefix.as_str()),
        ("APP_REGISTRY__ETCD__NAMESPACE", namespace.as_str()),
    ]);
    let mut running = MicroRun::start(service, http, grpc, &env);
    running.wait_until_listening(grpc, Duration::from_secs(300));
    // `micro call --nats` reads the subject prefix as the service does: its configuration, with
    // the same `APP_…` overrides.
    let call = |transport: &[&str], request: &str| {
        Command::new(env!("CARGO_BIN_EXE_micro"))
            .args(["call", "-H", "x-api-key: dev-only-key-do-not-deploy"])
            .args(transport)
            .args(["helloworld.v1.Greeter/SayHello", request])
            .current_dir(service)
            .env("APP_SERVER__NATS__PREFIX", &prefix)
            .output()
            .expect("micro runs")
    };
    let grpc_address = format!("127.0.0.1:{grpc}");
    let http_address = format!("127.0.0.1:{http}");
    let transports: [&[&str]; 3] = [
        &[&grpc_address],
        &["--http", &http_address],
        &["--nats", &nats_url()],
    ];
    // NATS serves once the service has subscribed, which may follow the ports by a moment.
    let start = Instant::now();
    while call(transports[2], r#"{"name": "ping"}"#).status.code() != Some(0) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no answer over NATS:\n{}",
            running.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for transport in transports {
        let reply = call(transport, r#"{"name": "micro"}"#);
        succeeded(&reply, service);
        let reply: serde_json::Value = serde_json::from_slice(&reply.stdout).unwrap();
        assert_eq!(
            reply,
            serde_json::json!({"message": "Hello micro"}),
            "{transport:?}"
        );
        let refused = call(transport, r#"{"name": ""}"#);
        assert_eq!(refused.status.code(), Some(1), "{transport:?}");
        let error: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
        assert_eq!(error["code"], 400, "{transport:?}: {error}");
        assert_eq!(error["reason"], "NAME_REQUIRED", "{transport:?}: {error}");
    }
    // Over NATS, the subject itself names the method too.
    let subject = format!("{prefix}.helloworld.v1.Greeter.SayHello");
    let by_subject = Command::new(env!("CARGO_BIN_EXE_micro"))
        .args([
            "call",
            "--nats",
            "-H",
            "x-api-key: dev-only-key-do-not-deploy",
        ])
        .args([nats_url().as_str(), &subject, r#"{"name": "subject"}"#])
        .current_dir(service)
        .output()
        .expect("micro runs");
    succeeded(&by_subject, service);
    let reply: serde_json::Value = serde_json::from_slice(&by_subject.stdout).unwrap();
    assert_eq!(reply, serde_json::json!({"message": "Hello subject"}));

    let exit = running.terminate(Duration::from_secs(30));
    assert!(exit.success(), "exited with {exit}:\n{}", running.logs());
}

/// The order-service example: its generated code matches its contracts, and it passes fmt, clippy
/// and its own tests (HTTP and gRPC end to end, and the races) with the lock file it commits, once
/// on SQLite and once on the real PostgreSQL.
#[test]
fn the_order_service_example_passes_its_tests() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let example = examples.join("order-service");
    for service in ["order-service", "user-service"] {
        let service = examples.join(service);
        succeeded(&micro(&service, &["proto", "client", "--check"]), &service);
        // The examples run the runtime a new service gets, unedited: no drifted copy.
        succeeded(&micro(&service, &["upgrade", "--check"]), &service);
    }
    cargo(&examples, &["fmt", "--all", "--check"]);
    cargo(
        &examples,
        &[
            "clippy",
            "--quiet",
            "--locked",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    );
    cargo(
        &examples,
        &[
            "test",
            "--quiet",
            "--locked",
            "-p",
            "user-service",
            "--tests",
        ],
    );
    let (nats, redis) = (nats_url(), redis_url());
    let servers = [
        ("ORDER_SERVICE_TEST_NATS", nats.as_str()),
        ("ORDER_SERVICE_TEST_REDIS", redis.as_str()),
    ];
    cargo_with_env(
        &example,
        &["test", "--quiet", "--locked", "--tests"],
        &servers,
    );
    let postgres = postgres_url();
    let with_postgres = [
        servers.as_slice(),
        &[("ORDER_SERVICE_TEST_POSTGRES", &postgres)],
    ]
    .concat();
    cargo_with_env(
        &example,
        &["test", "--quiet", "--locked", "--tests"],
        &with_postgres,
    );

    // `micro call` against the example, started as its tests left it built: a typed error for a
    // missing order over both transports, and an order created over gRPC read back over HTTP.
    // Creates ask the user service, started beside it.
    let data = tempfile::tempdir().unwrap();
    let users_grpc = free_port();
    let mut users = Command::new(shared_target_dir().join("debug/user-service"))
        .current_dir(examples.join("user-service"))
        .env(
            "APP_SERVER__HTTP__ADDR",
            format!("127.0.0.1:{}", free_port()),
        )
        .env("APP_SERVER__GRPC__ADDR", format!("127.0.0.1:{users_grpc}"))
        .env(
            "APP_DATABASE__URL",
            format!("sqlite://{}", data.path().join("users.db").display()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (http, grpc) = (free_port(), free_port());
    let mut service = Command::new(shared_target_dir().join("debug/order-service"))
        .current_dir(&example)
        .env("APP_SERVER__HTTP__ADDR", format!("127.0.0.1:{http}"))
        .env("APP_SERVER__GRPC__ADDR", format!("127.0.0.1:{grpc}"))
        .env(
            "APP_DATABASE__URL",
            format!("sqlite://{}", data.path().join("orders.db").display()),
        )
        .env(
            "APP_USERS__TARGET",
            format!("http://127.0.0.1:{users_grpc}"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", http)).is_err()
        || TcpStream::connect(("127.0.0.1", grpc)).is_err()
        || TcpStream::connect(("127.0.0.1", users_grpc)).is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the examples never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (grpc, http) = (format!("127.0.0.1:{grpc}"), format!("127.0.0.1:{http}"));
    let call = |args: &[&str]| {
        let output = micro(&example, &[&["call"], args].concat());
        let json: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{}", transcript(&output, &example)));
        (output.status.code(), json)
    };
    let get = "order.v1.OrderService/GetOrder";
    for transport in [vec![grpc.as_str()], vec!["--http", &http]] {
        let (code, error) =
            call(&[transport.as_slice(), &[get, r#"{"order_id": "nope"}"#]].concat());
        assert_eq!(code, Some(1), "{error}");
        assert_eq!(
            (error["code"].as_u64(), error["reason"].as_str()),
            (Some(404), Some("ORDER_NOT_FOUND"))
        );
    }
    let order = r#"{"user_id": "user_123", "items": [{"product_id": "prod_001", "product_name": "iPhone 15", "quantity": 1, "unit_price": 599900}], "address": "Beijing"}"#;
    let (code, created) = call(&[&grpc, "order.v1.OrderService/CreateOrder", order]);
    assert_eq!(code, Some(0), "{created}");
    let id = created["orderId"].as_str().unwrap();
    let (code, read) = call(&["--http", &http, get, &format!(r#"{{"order_id": "{id}"}}"#)]);
    assert_eq!(code, Some(0), "{read}");
    assert_eq!(
        (
            read["order"]["status"].as_str(),
            read["order"]["totalAmount"].as_str()
        ),
        (Some("ORDER_STATUS_PENDING"), Some("599900"))
    );

    // A client people use that speaks only reflection v1alpha: Python's grpcio-reflection learns
    // the contracts from the server, creates an order and reads it back.
    let python = python_tool("grpcio-reflection==1.85.1", "python");
    let output = Command::new(&python)
        .arg(fixtures().join("reflection_client.py"))
        .arg(&grpc)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the Python reflection client failed:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let replies: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(
        replies[0]["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "order.v1.OrderService"),
        "{stdout}"
    );
    let id = replies[1]["orderId"].as_str().unwrap();
    assert!(replies[2].to_string().contains(id), "{stdout}");
    for process in [&mut service, &mut users] {
        process.kill().unwrap();
        process.wait().unwrap();
    }
}

/// A contract set written to break generators (every field shape and well-known type, every HTTP
/// rule shape, all four streaming shapes, three packages importing each other) generates code
/// and stubs that build, and pass clippy, with no warnings; its API document is valid OpenAPI.
#[test]
fn tricky_contracts_build_without_warnings() {
    let work = tempfile::tempdir().unwrap();
    let ok = |output| succeeded(&output, work.path());
    // With the NATS transport, so that the typed NATS clients of every service are built too.
    ok(micro(
        work.path(),
        &["new", "shop", "-q", "--transport", "http,grpc,nats"],
    ));
    let shop = work.path().join("shop");
    add_tricky_contracts(&shop);
    ok(micro(&shop, &["proto", "client", "-q"]));
    for args in TRICKY_SERVER_ARGS {
        ok(micro(&shop, args));
    }
    append(
        &shop.join("src/service/mod.rs"),
        "pub mod admin;\npub mod shop;\n",
    );
    cargo(&shop, &["build", "--quiet", "--all-targets"]);
    cargo(
        &shop,
        &["clippy", "--quiet", "--all-targets", "--", "-D", "warnings"],
    );
    validate_openapi(&shop.join("api/openapi.json"));
}

/// The build-script way (`micro_codegen::build_script`): a new service with its generated code
/// deleted, generating it into `OUT_DIR` instead, builds and passes its own tests — with no
/// `protoc` to be found — and compiles the same files `micro proto client` commits.
#[test]
fn a_service_can_generate_its_code_in_a_build_script() {
    let work = tempfile::tempdir().unwrap();
    let service = new_service(work.path(), "scripted");
    let committed = std::fs::read_to_string(service.join("api/mod.rs")).unwrap();
    for entry in walkdir::WalkDir::new(service.join("api")) {
        let path = entry.unwrap().into_path();
        if path.is_file() && path.extension().is_none_or(|ext| ext != "proto") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let codegen = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/micro-codegen");
    append(
        &service.join("Cargo.toml"),
        &format!(
            "\n[build-dependencies]\nanyhow = \"1\"\nmicro-codegen = {{ path = {:?} }}\n",
            codegen.canonicalize().unwrap()
        ),
    );
    std::fs::write(
        service.join("build.rs"),
        "fn main() -> anyhow::Result<()> {\n    micro_codegen::build_script::Contracts::new(\"api\").generate()\n}\n",
    )
    .unwrap();
    let lib = service.join("src/lib.rs");
    let mounted = std::fs::read_to_string(&lib).unwrap().replace(
        "#[path = \"../api/mod.rs\"]\n#[rustfmt::skip] // generated by micro, formatted as it writes it\npub mod api;",
        "pub mod api {\n    include!(concat!(env!(\"OUT_DIR\"), \"/micro/mod.rs\"));\n}",
    );
    assert!(
        mounted.contains("OUT_DIR"),
        "the scaffold's `api` mount changed"
    );
    std::fs::write(&lib, mounted).unwrap();
    cargo_with_env(
        &service,
        &["test", "--quiet", "--tests"],
        &[("PROTOC", "/nonexistent/protoc")],
    );
    let out = walkdir::WalkDir::new(shared_target_dir().join("debug/build"))
        .into_iter()
        .filter_map(Result::ok)
        .find(|entry| {
            entry.path().ends_with("out/micro/mod.rs")
                && entry.path().to_string_lossy().contains("/scripted-")
        })
        .expect("the build script wrote `mod.rs`");
    assert_eq!(std::fs::read_to_string(out.path()).unwrap(), committed);
}

async fn say_hello(port: u16, name: &str) -> Result<HelloReply, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .map_err(|err| tonic::Status::unavailable(err.to_string()))?;
    let mut client = tonic::client::Grpc::new(channel);
    client
        .ready()
        .await
        .map_err(|err| tonic::Status::unavailable(err.to_string()))?;
    let path =
        tonic::codegen::http::uri::PathAndQuery::from_static("/helloworld.v1.Greeter/SayHello");
    let request = tonic::Request::new(HelloRequest { name: name.into() });
    let reply = client
        .unary(request, path, tonic_prost::ProstCodec::default())
        .await?;
    Ok(reply.into_inner())
}

/// `micro run --watch`: an edit to a handler is served after a rebuild and restart; a broken edit
/// leaves the last good build answering, and says so.
#[test]
fn run_watch_restarts_on_edits_and_survives_broken_ones() {
    let work = tempfile::tempdir().unwrap();
    let service = new_service(work.path(), "watched");
    let (http, grpc) = (free_port(), free_port());
    let mut run = MicroRun::start_with(&service, http, grpc, &["--watch"], &[]);
    run.wait_until_listening(http, Duration::from_secs(300));
    let greeting = || {
        let mut stream = TcpStream::connect(("127.0.0.1", http)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "GET /helloworld/watch HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        Some(response.split_once("\r\n\r\n")?.1.to_owned())
    };
    let wait_for = |what: &dyn Fn() -> bool, limit: Duration, context: &str| {
        let start = Instant::now();
        while !what() {
            assert!(
                start.elapsed() < limit,
                "{context} within {limit:?}:\n{}",
                run.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    assert_eq!(greeting().as_deref(), Some(r#"{"message":"Hello watch"}"#));

    let handler = service.join("src/biz/greeter.rs");
    let code = std::fs::read_to_string(&handler).unwrap();
    assert!(code.contains(r#"format!("Hello {name}")"#));
    std::fs::write(
        &handler,
        code.replace(r#"format!("Hello {name}")"#, r#"format!("Howdy {name}")"#),
    )
    .unwrap();
    wait_for(
        &|| greeting().as_deref() == Some(r#"{"message":"Howdy watch"}"#),
        Duration::from_secs(300),
        "the edit was not served",
    );

    append(&handler, "fn broken(\n");
    wait_for(
        &|| run.logs().contains("the running service stays up"),
        Duration::from_secs(300),
        "the failed build was not reported",
    );
    assert_eq!(greeting().as_deref(), Some(r#"{"message":"Howdy watch"}"#));

    let exit = run.terminate(Duration::from_secs(30));
    assert!(
        exit.success(),
        "`micro run --watch` exited with {exit} after SIGTERM:\n{}",
        run.logs()
    );
}

/// `micro run` in the service's folder, listening on the given ports.
struct MicroRun {
    child: Child,
    log: PathBuf,
}

impl MicroRun {
    /// `micro run`, with `env` set for the service.
    fn start(service: &Path, http: u16, grpc: u16, env: &[(&str, &str)]) -> Self {
        Self::start_with(service, http, grpc, &[], env)
    }

    /// `micro run ARGS…`.
    fn start_with(
        service: &Path,
        http: u16,
        grpc: u16,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let log = service.join("run.log");
        let child = Command::new(env!("CARGO_BIN_EXE_micro"))
            .arg("run")
            .args(args)
            .current_dir(service)
            .env("PATH", toolchain_only_path(service))
            .env("PROTOC", "/nonexistent/protoc")
            .env("CARGO_TARGET_DIR", shared_target_dir())
            .env("APP_SERVER__HTTP__ADDR", format!("127.0.0.1:{http}"))
            .env("APP_SERVER__GRPC__ADDR", format!("127.0.0.1:{grpc}"))
            .env("APP_LOG__FORMAT", "json")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(service.join("run.err.log")).unwrap())
            .spawn()
            .expect("micro run starts");
        MicroRun { child, log }
    }

    fn wait_until_listening(&mut self, port: u16, limit: Duration) {
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("`micro run` exited with {status}:\n{}", self.logs());
            }
            assert!(
                start.elapsed() < limit,
                "not listening after {limit:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends SIGTERM to `micro run` (which forwards it) and waits for the exit status.
    #[allow(unsafe_code)]
    fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) has no memory-safety preconditions.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "still running {limit:?} after SIGTERM:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn logs(&self) -> String {
        let err = self.log.with_file_name("run.err.log");
        format!(
            "{}{}",
            std::fs::read_to_string(&self.log).unwrap_or_default(),
            std::fs::read_to_string(err).unwrap_or_default()
        )
    }
}

impl Drop for MicroRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Runs cargo in the generated project, sharing one target folder across runs so dependencies
/// compile once. Services' tests run with `--tests` (no doctests): every service vendors the
/// runtime at the same relative path, so Cargo gives each copy the same artifact name, and a
/// doctest (which links at run time, after Cargo's build lock is released) can find the runtime
/// being rebuilt by another test's service.
fn cargo(project: &Path, args: &[&str]) {
    cargo_with_env(project, args, &[]);
}

fn cargo_with_env(project: &Path, args: &[&str], env: &[(&str, &str)]) {
    let output = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(project)
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The values under `prefix` in the etcd on 127.0.0.1:2379 (`scripts/test` starts it), read
/// through its JSON gateway.
fn etcd_records(prefix: &str) -> Vec<String> {
    use base64::Engine as _;
    let base64 = base64::engine::general_purpose::STANDARD;
    let mut end = prefix.as_bytes().to_vec();
    *end.last_mut().unwrap() += 1;
    let body = serde_json::json!({ "key": base64.encode(prefix), "range_end": base64.encode(end) });
    let answer = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let response = reqwest::Client::new()
            .post("http://127.0.0.1:2379/v3/kv/range")
            .body(body.to_string())
            .send()
            .await
            .expect("etcd on 127.0.0.1:2379 (scripts/test starts it)");
        response.bytes().await.unwrap()
    });
    let range: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    range["kvs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|kv| String::from_utf8(base64.decode(kv["value"].as_str().unwrap()).unwrap()).unwrap())
        .collect()
}

/// The PostgreSQL the tests use: `MICRO_TEST_POSTGRES_URL`, else the local server's `test` database.
fn postgres_url() -> String {
    std::env::var("MICRO_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// The Redis the example's cache tests use: `MICRO_TEST_REDIS_URL`, else this machine's.
fn redis_url() -> String {
    std::env::var("MICRO_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The NATS server tests publish to: `MICRO_TEST_NATS_URL`, else this machine's.
fn nats_url() -> String {
    std::env::var("MICRO_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A PATH holding only links to the toolchain `micro run` needs (cargo, rustc, the linker), so no
/// `protoc` can be found even on a machine that has one.
fn toolchain_only_path(service: &Path) -> PathBuf {
    let bin = service.join(".toolchain-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let system_path = std::env::var_os("PATH").unwrap_or_default();
    for tool in ["cargo", "rustc", "cc", "ld", "as"] {
        let found = std::env::split_paths(&system_path)
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file());
        // A second run of the same service finds its links made.
        if let Some(found) = found
            && std::fs::symlink_metadata(bin.join(tool)).is_err()
        {
            std::os::unix::fs::symlink(found, bin.join(tool)).unwrap();
        }
    }
    assert!(!bin.join("protoc").exists());
    bin
}

/// A plain HTTP/1.1 GET; returns the status code and body.
fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn succeeded(output: &std::process::Output, root: &Path) {
    assert!(output.status.success(), "{}", transcript(output, root));
}

/// Runs `tests/browser/swagger_ui.py` (Selenium, from PyPI) in Debian's headless Chromium against
/// the Swagger UI of the service on `port`: the greeter's GET, tried out from the page, shows 200
/// and its greeting. The screenshot stays at `target/tmp/swagger-ui.png`.
fn swagger_ui_in_a_browser(port: u16) {
    for program in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            Path::new(program).is_file(),
            "`{program}` is missing: install Debian's `chromium` and `chromium-driver` \
             (`scripts/test` does)"
        );
    }
    let python = python_tool("selenium==4.40.0", "python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/swagger_ui.py");
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("swagger-ui.png");
    let output = Command::new(&python)
        .arg(&script)
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(&screenshot)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "Swagger UI in Chromium (screenshot: {}):\n{}{}",
        screenshot.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `openapi-spec-validator` (from PyPI) on a document.
fn validate_openapi(document: &Path) {
    let validator = python_tool("openapi-spec-validator==0.9.0", "openapi-spec-validator");
    let output = Command::new(&validator).arg(document).output().unwrap();
    assert!(
        output.status.success(),
        "{} is not a valid OpenAPI document:\n{}{}",
        document.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}
