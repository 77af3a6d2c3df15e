//! `order.v1.OrderService` over both transports: contract messages in, domain types to the use
//! case, typed errors out.

use micro_runtime::auth::Identity;
use micro_runtime::errors::Error;
use tonic::{Request, Response, Status};

use crate::api::order::v1 as api;
use crate::api::order::v1::order_service_server::OrderService as OrderApi;
use crate::api::order::v1::{
    CancelOrderRequest, CancelOrderResponse, CreateOrderRequest, CreateOrderResponse,
    GetOrderRequest, GetOrderResponse, ListOrdersRequest, ListOrdersResponse, OrderItem,
    OrderStatus, error_insufficient_stock, error_invalid_user, error_order_already_cancelled,
    error_order_forbidden, error_order_not_cancellable, error_order_not_found,
    error_product_not_found, error_store_unavailable, error_users_unavailable,
};
use crate::biz::{
    self, Caller, NewOrder, OrderError, OrderFilter, OrderRepo, OrderUsecase, Role, UserDirectory,
};
use crate::data::{OrderStore, UserClient};

/// The metadata key (and, over HTTP, the header) that makes a create idempotent.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

#[derive(Debug)]
pub struct OrderService<R = OrderStore, U = UserClient> {
    usecase: OrderUsecase<R, U>,
}

impl<R: OrderRepo, U: UserDirectory> OrderService<R, U> {
    pub fn new(usecase: OrderUsecase<R, U>) -> Self {
        OrderService { usecase }
    }

    /// Whether the service can take traffic, for `/readyz`.
    pub async fn ready(&self) -> anyhow::Result<()> {
        self.usecase.ready().await
    }
}

/// The caller of `request`: the token's subject and highest known role when auth is on (the auth
/// layer has then put the token's claims in the request), anyone when it is off.
fn caller<T>(request: &Request<T>) -> Caller {
    match request.extensions().get::<Identity>() {
        Some(identity) => Caller::User {
            id: identity.subject.clone(),
            role: identity
                .roles
                .iter()
                .filter_map(|name| Role::from_name(name))
                .max()
                .unwrap_or(Role::User),
        },
        None => Caller::Anyone,
    }
}

#[tonic::async_trait]
impl<R: OrderRepo, U: UserDirectory> OrderApi for OrderService<R, U> {
    async fn create_order(
        &self,
        request: Request<CreateOrderRequest>,
    ) -> Result<Response<CreateOrderResponse>, Status> {
        // The HTTP header `Idempotency-Key` arrives as this metadata, as gRPC clients send it.
        let idempotency_key = request
            .metadata()
            .get(IDEMPOTENCY_KEY)
            .map(|value| {
                value
                    .to_str()
                    .ok()
                    .filter(|key| !key.is_empty() && key.len() <= 255)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Error::new(
                            400,
                            "VALIDATOR",
                            "Idempotency-Key must be 1 to 255 visible ASCII characters",
                        )
                    })
            })
            .transpose()?;
        let caller = caller(&request);
        let request = request.into_inner();
        let items = request
            .items
            .into_iter()
            .map(|item| {
                Ok(biz::Item {
                    quantity: u32::try_from(item.quantity)
                        .map_err(|_| Error::new(400, "VALIDATOR", "quantity must be at least 1"))?,
                    product_id: item.product_id,
                    product_name: item.product_name,
                    unit_price: item.unit_price,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let order = self
            .usecase
            .create(
                &caller,
                NewOrder {
                    user_id: request.user_id,
                    items,
                    address: request.address,
                    remark: request.remark,
                    idempotency_key,
                },
            )
            .await?;
        Ok(Response::new(CreateOrderResponse { order_id: order.id }))
    }

    // ANCHOR: get_order
    async fn get_order(
        &self,
        request: Request<GetOrderRequest>,
    ) -> Result<Response<GetOrderResponse>, Status> {
        let order = self
            .usecase
            .get(&caller(&request), &request.get_ref().order_id)
            .await?;
        Ok(Response::new(GetOrderResponse {
            order: Some(order.into()),
        }))
    }
    // ANCHOR_END: get_order

    async fn list_orders(
        &self,
        request: Request<ListOrdersRequest>,
    ) -> Result<Response<ListOrdersResponse>, Status> {
        let caller = caller(&request);
        let request = request.into_inner();
        let status = match OrderStatus::try_from(request.status) {
            Ok(OrderStatus::Unspecified) => None,
            Ok(status) => biz::Status::from_number(status as i32),
            Err(_) => {
                let message = format!("unknown order status {}", request.status);
                return Err(Error::new(400, "VALIDATOR", message).into());
            }
        };
        let (orders, total) = self
            .usecase
            .list(
                &caller,
                OrderFilter {
                    user_id: Some(request.user_id).filter(|user| !user.is_empty()),
                    status,
                    // Validation keeps both at or above zero.
                    page: u32::try_from(request.page).unwrap_or_default(),
                    page_size: u32::try_from(request.page_size).unwrap_or_default(),
                },
            )
            .await?;
        Ok(Response::new(ListOrdersResponse {
            orders: orders.into_iter().map(api::Order::from).collect(),
            total: i64::try_from(total).unwrap_or(i64::MAX),
        }))
    }

    async fn cancel_order(
        &self,
        request: Request<CancelOrderRequest>,
    ) -> Result<Response<CancelOrderResponse>, Status> {
        let caller = caller(&request);
        let request = request.get_ref();
        let order = self
            .usecase
            .cancel(&caller, &request.order_id, &request.reason)
            .await?;
        Ok(Response::new(CancelOrderResponse {
            success: true,
            order: Some(order.into()),
        }))
    }
}

impl From<biz::Order> for api::Order {
    fn from(order: biz::Order) -> Self {
        api::Order {
            id: order.id,
            user_id: order.user_id,
            items: order
                .items
                .into_iter()
                .map(|item| OrderItem {
                    product_id: item.product_id,
                    product_name: item.product_name,
                    quantity: i32::try_from(item.quantity).unwrap_or(i32::MAX),
                    unit_price: item.unit_price,
                })
                .collect(),
            total_amount: order.total_amount,
            status: order.status as i32,
            address: order.address,
            remark: order.remark,
            created_at: Some(timestamp(order.created_at)),
            updated_at: Some(timestamp(order.updated_at)),
        }
    }
}

fn timestamp(millis: i64) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: (millis.rem_euclid(1000) * 1_000_000) as i32,
    }
}

impl From<OrderError> for Status {
    fn from(err: OrderError) -> Self {
        let message = err.to_string();
        match err {
            OrderError::NotFound(_) => error_order_not_found(message).into(),
            OrderError::AlreadyCancelled(_) => error_order_already_cancelled(message).into(),
            OrderError::NotCancellable { .. } => error_order_not_cancellable(message).into(),
            OrderError::InsufficientStock { product_id } => error_insufficient_stock(message)
                .with_metadata("product_id", product_id)
                .into(),
            OrderError::InvalidUser(_) => error_invalid_user(message).into(),
            OrderError::ProductNotFound(_) => error_product_not_found(message).into(),
            OrderError::Forbidden(_) => error_order_forbidden(message).into(),
            OrderError::TotalTooLarge => Error::new(400, "VALIDATOR", message).into(),
            OrderError::Unavailable(source) => {
                tracing::warn!("{source:#}");
                error_store_unavailable(message).into()
            }
            OrderError::UsersUnavailable(source) => {
                tracing::warn!("{source:#}");
                error_users_unavailable(message).into()
            }
            OrderError::Storage(source) => {
                tracing::error!("{source:#}");
                Status::internal("internal error")
            }
        }
    }
}
