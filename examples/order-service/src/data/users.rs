//! The user service, asked over gRPC whether an order's user exists. The channel is micro's
//! governed one: instances found through the registry (`discovery:///user-service`) and chosen
//! per call by the power of two choices, the caller's remaining deadline carried on, kratos'
//! circuit breaker in front, safe retries, and `client_requests_*` metrics.

use micro_runtime::errors::Error;
use micro_runtime::registry::Registry;
use micro_runtime::registry::client::{Credentials, Governed, GrpcChannel, governed_channel};

use crate::api::user::v1::user_service_client::UserServiceClient;
use crate::api::user::v1::{GetUserRequest, is_user_not_found};
use crate::biz::{OrderError, UserDirectory};
use crate::conf;

#[derive(Debug, Clone)]
pub struct UserClient {
    client: UserServiceClient<Governed<GrpcChannel>>,
}

impl UserClient {
    /// A client for the user service at `config.target`; connects lazily, so the order service starts
    /// (and serves everything but creates) while no user service is up.
    pub fn new(registry: &Registry, config: &conf::Users) -> anyhow::Result<Self> {
        // GetUser is marked `NO_SIDE_EFFECTS` in the user service's contract: a call that could
        // not reach its instance goes to another one.
        let credentials = Credentials::new(config.forward_credentials, config.api_key.as_deref())?;
        let channel = governed_channel(registry, &config.target)?
            .with_safe_retries(&crate::api::CONTRACTS)?
            .with_credentials(credentials);
        Ok(UserClient {
            client: UserServiceClient::new(channel),
        })
    }
}

impl UserDirectory for UserClient {
    async fn exists(&self, user_id: &str) -> Result<bool, OrderError> {
        let request = GetUserRequest {
            user_id: user_id.to_owned(),
        };
        match self.client.clone().get_user(request).await {
            Ok(_) => Ok(true),
            Err(status) => {
                let err = Error::from(status);
                // Unknown, or an id the user service would never hold (too long, say).
                if is_user_not_found(&err) || err.code == 400 {
                    Ok(false)
                } else {
                    Err(OrderError::UsersUnavailable(anyhow::anyhow!(
                        "asking the user service about `{user_id}`: {} {}: {}",
                        err.code,
                        err.reason,
                        err.message
                    )))
                }
            }
        }
    }
}
