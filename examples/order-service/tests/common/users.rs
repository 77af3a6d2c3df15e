//! The user service the order service asks about users, served by the tests and the load bench
//! in their own process.

/// The real user service (its seeded `user_123` and `user_456`), on free ports of this process,
/// with its database in `folder`, until the runtime it runs on ends; its gRPC URL.
pub async fn user_service(folder: &std::path::Path) -> String {
    let mut config =
        user_service::conf::Config::load("../user-service/configs/config.yaml".as_ref()).unwrap();
    config.database.url = format!("sqlite://{}", folder.join("users.db").display());
    // The order service's tests publish events of their own; nothing here counts them.
    config.events = None;
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", grpc.local_addr().unwrap());
    tokio::spawn(user_service::serve(
        http,
        grpc,
        config,
        std::future::pending(),
    ));
    url
}
