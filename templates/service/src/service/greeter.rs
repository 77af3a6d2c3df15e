use tonic::{Request, Response, Status};

use crate::api::helloworld::v1::greeter_server::Greeter;
use crate::api::helloworld::v1::{HelloReply, HelloRequest, error_name_required};
use crate::biz::{GreetError, GreeterRepo, GreeterUsecase};
use crate::data::GreeterStore;

/// `helloworld.v1.Greeter`, backed by the greeter use case.
#[derive(Debug)]
pub struct GreeterService<R = GreeterStore> {
    usecase: GreeterUsecase<R>,
}

impl<R: GreeterRepo> GreeterService<R> {
    pub fn new(usecase: GreeterUsecase<R>) -> Self {
        GreeterService { usecase }
    }

    /// Whether the service can take traffic, for `/readyz`.
    pub async fn ready(&self) -> anyhow::Result<()> {
        self.usecase.ready().await
    }
}

#[tonic::async_trait]
impl<R: GreeterRepo> Greeter for GreeterService<R> {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let greeting = self.usecase.greet(&request.get_ref().name).await?;
        Ok(Response::new(HelloReply {
            message: greeting.message,
        }))
    }
}

impl From<GreetError> for Status {
    fn from(err: GreetError) -> Self {
        match err {
            GreetError::EmptyName => error_name_required(err.to_string()).into(),
            GreetError::Storage(source) => {
                tracing::error!("{source:#}");
                Status::internal("internal error")
            }
        }
    }
}
