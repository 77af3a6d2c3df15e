use tonic::{Request, Response, Status};

use crate::api::user::v1 as api;
use crate::api::user::v1::user_service_server::UserService as UserApi;
use crate::biz::{User, UserError, UserRepo, UserUsecase};
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
