use micro_runtime::errors::Error;
use micro_runtime::events::Delivery;
use tonic::{Request, Response, Status};

use crate::api::user::v1 as api;
use crate::api::user::v1::user_service_server::UserService as UserApi;
use crate::biz::{OrderEvent, User, UserError, UserRepo, UserUsecase};
use crate::data::UserStore;

/// `user.v1.UserService`, backed by the user use case.
#[derive(Debug)]
pub struct UserService<R = UserStore> {
    usecase: UserUsecase<R>,
}

impl<R: UserRepo> UserService<R> {
    pub fn new(usecase: UserUsecase<R>) -> Self {
        UserService { usecase }
    }

    /// Whether the service can take traffic, for `/readyz`.
    pub async fn ready(&self) -> anyhow::Result<()> {
        self.usecase.ready().await
    }

    /// Handles one order service event: a typed `400 BAD_EVENT` for one this service cannot read
    /// (dead-lettered after its attempts), `503` while storage fails (tried again).
    pub async fn order_event(&self, delivery: Delivery) -> Result<(), Error> {
        let event = OrderEvent::from_json(&delivery.payload)
            .map_err(|why| Error::new(400, "BAD_EVENT", why))?;
        let applied = self
            .usecase
            .apply(&delivery.id, &event)
            .await
            .map_err(|err| {
                tracing::warn!(id = %delivery.id, "{err:#}");
                Error::new(503, "STORE_UNAVAILABLE", "the event could not be stored")
            })?;
        tracing::debug!(id = %delivery.id, applied, "order event");
        Ok(())
    }
}

#[tonic::async_trait]
impl<R: UserRepo> UserApi for UserService<R> {
    async fn get_user(
        &self,
        request: Request<api::GetUserRequest>,
    ) -> Result<Response<api::GetUserResponse>, Status> {
        let user = self.usecase.get(&request.get_ref().user_id).await?;
        Ok(Response::new(api::GetUserResponse {
            user: Some(user.into()),
        }))
    }
}

impl From<User> for api::User {
    fn from(user: User) -> Self {
        api::User {
            user_id: user.id,
            name: user.name,
            // Far beyond any person's orders; saturates rather than wraps.
            open_orders: i32::try_from(user.open_orders).unwrap_or(i32::MAX),
        }
    }
}

impl From<UserError> for Status {
    fn from(err: UserError) -> Self {
        let message = err.to_string();
        match err {
            UserError::NotFound(_) => api::error_user_not_found(message).into(),
            UserError::Unavailable(source) => {
                tracing::warn!("{source:#}");
                api::error_store_unavailable(message).into()
            }
            UserError::Storage(source) => {
                tracing::error!("{source:#}");
                Status::internal("internal error")
            }
        }
    }
}
