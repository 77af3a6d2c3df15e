//! Orders: what one is, what can go wrong with one, and what the use cases need from storage.

use std::future::Future;

use serde::{Deserialize, Serialize};

/// Where an order is in its life. The numbers are the contract's `OrderStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Pending = 1,
    Paid = 2,
    Shipped = 3,
    Completed = 4,
    Cancelled = 5,
}

impl Status {
    /// Only orders that have not left the warehouse can be cancelled.
    pub fn is_cancellable(self) -> bool {
        matches!(self, Status::Pending | Status::Paid)
    }

    pub fn from_number(number: i32) -> Option<Status> {
        [
            Status::Pending,
            Status::Paid,
            Status::Shipped,
            Status::Completed,
            Status::Cancelled,
        ]
        .into_iter()
        .find(|status| *status as i32 == number)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub product_id: String,
    pub product_name: String,
    pub quantity: u32,
    /// In cents.
    pub unit_price: i64,
}

/// An order as placed, before storage gives it an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub user_id: String,
    pub items: Vec<Item>,
    pub address: String,
    pub remark: String,
    /// The client's `Idempotency-Key`: a create retried with the same key (by the same user)
    /// returns the order the first one created instead of placing another.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub user_id: String,
    pub items: Vec<Item>,
    /// In cents.
    pub total_amount: i64,
    pub status: Status,
    pub address: String,
    pub remark: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

// ANCHOR: caller
/// What a caller may do beyond their own orders. Roles are ordered: each may do what the ones
/// before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Their own orders only.
    User,
    /// Every user's orders.
    Admin,
}

impl Role {
    /// The role named `name` in a token, if it is one of ours.
    pub fn from_name(name: &str) -> Option<Role> {
        match name {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Authentication is off (development and trusted networks): every order is open to the call.
    Anyone,
    /// An authenticated user, with the highest role their token names.
    User { id: String, role: Role },
}

impl Caller {
    /// Whether the caller may see and act on `user_id`'s orders.
    pub fn may_act_for(&self, user_id: &str) -> bool {
        match self {
            Caller::Anyone => true,
            Caller::User { id, role } => *role >= Role::Admin || id == user_id,
        }
    }
}
// ANCHOR_END: caller

/// Which orders to list, and which page of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFilter {
    /// Everyone's when `None`.
    pub user_id: Option<String>,
    pub status: Option<Status>,
    /// 1-based.
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("order `{0}` does not exist")]
    NotFound(String),
    #[error("order `{0}` is already cancelled")]
    AlreadyCancelled(String),
    #[error("order `{id}` is {status:?} and can no longer be cancelled")]
    NotCancellable { id: String, status: Status },
    #[error("not enough `{product_id}` in stock")]
    InsufficientStock { product_id: String },
    #[error("user `{0}` does not exist")]
    InvalidUser(String),
    #[error("product `{0}` does not exist")]
    ProductNotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("the order's total does not fit in 64 bits of cents")]
    TotalTooLarge,
    /// The store could not be reached; a retry may succeed.
    #[error("the order store cannot be reached right now; try again")]
    Unavailable(#[source] anyhow::Error),
    /// The user service could not say whether the user exists; a retry may succeed.
    #[error("the user service cannot be reached right now; try again")]
    UsersUnavailable(#[source] anyhow::Error),
    #[error("storage failed")]
    Storage(#[source] anyhow::Error),
}

impl From<anyhow::Error> for OrderError {
    fn from(err: anyhow::Error) -> Self {
        match err.is::<StoreUnreachable>() {
            true => OrderError::Unavailable(err),
            false => OrderError::Storage(err),
        }
    }
}

/// Marks a storage error as the store being out of reach rather than a fault: the data layer
/// attaches it, and the use cases answer [`OrderError::Unavailable`].
#[derive(Debug, thiserror::Error)]
#[error("the store cannot be reached")]
pub struct StoreUnreachable;

/// What [`OrderRepo::create`] did: stored a new order, or found the one an earlier request with
/// the same idempotency key stored (`replayed`), which is not counted again.
#[derive(Debug, Clone)]
pub struct Placed {
    pub order: Order,
    pub replayed: bool,
}

/// What the order use cases need from storage. Each method is one transaction; creating and
/// cancelling also record an `order.created` / `order.cancelled` event in it, for other services.
pub trait OrderRepo: Send + Sync + 'static {
    /// Stores `order` as pending with `total_amount`, reserving each item's quantity from stock:
    /// all of it, or nothing and `InsufficientStock` / `ProductNotFound`. With an
    /// idempotency key already used by the same user, stores nothing and returns that order.
    fn create(
        &self,
        order: &NewOrder,
        total_amount: i64,
    ) -> impl Future<Output = Result<Placed, OrderError>> + Send;

    fn get(&self, id: &str) -> impl Future<Output = anyhow::Result<Option<Order>>> + Send;

    /// One page of the matching orders, newest first, and how many match in all.
    fn list(
        &self,
        filter: &OrderFilter,
    ) -> impl Future<Output = anyhow::Result<(Vec<Order>, u64)>> + Send;

    /// Cancels a pending or paid order and puts its items back in stock.
    fn cancel(
        &self,
        id: &str,
        reason: &str,
    ) -> impl Future<Output = Result<Order, OrderError>> + Send;

    /// Fails when storage cannot serve requests.
    fn ping(&self) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What the order use cases need to know of users, who live in the user service.
pub trait UserDirectory: Send + Sync + 'static {
    /// Whether `user_id` names a user; [`OrderError::UsersUnavailable`] when nobody can say.
    fn exists(&self, user_id: &str) -> impl Future<Output = Result<bool, OrderError>> + Send;
}

/// Orders placed, and orders cancelled, since the process started (Prometheus counters, on
/// `/metrics` with the request metrics).
pub const ORDERS_CREATED: &str = "orders_created_total";
pub const ORDERS_CANCELLED: &str = "orders_cancelled_total";

/// The page size when none is asked for, and the largest one served.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

#[derive(Debug)]
pub struct OrderUsecase<R, U> {
    repo: R,
    users: U,
}

impl<R: OrderRepo, U: UserDirectory> OrderUsecase<R, U> {
    pub fn new(repo: R, users: U) -> Self {
        OrderUsecase { repo, users }
    }

    pub async fn ready(&self) -> anyhow::Result<()> {
        self.repo.ping().await
    }

    /// Places `order`; the total is computed here, never taken from the caller.
    pub async fn create(&self, caller: &Caller, order: NewOrder) -> Result<Order, OrderError> {
        if !caller.may_act_for(&order.user_id) {
            return Err(OrderError::Forbidden(format!(
                "you may not place orders for user `{}`",
                order.user_id
            )));
        }
        let total_amount = order.items.iter().try_fold(0i64, |total, item| {
            item.unit_price
                .checked_mul(i64::from(item.quantity))
                .and_then(|line| total.checked_add(line))
        });
        let total_amount = total_amount.ok_or(OrderError::TotalTooLarge)?;
        // Asked before the transaction, which must not wait on another service.
        if !self.users.exists(&order.user_id).await? {
            return Err(OrderError::InvalidUser(order.user_id));
        }
        let Placed { order, replayed } = self.repo.create(&order, total_amount).await?;
        if replayed {
            tracing::info!(order = %order.id, "a retried create answered with its first order");
        } else {
            tracing::info!(order = %order.id, user = %order.user_id, total_amount, "order created");
            metrics::counter!(ORDERS_CREATED).increment(1);
        }
        Ok(order)
    }

    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Order, OrderError> {
        let order = self
            .repo
            .get(id)
            .await?
            .ok_or_else(|| OrderError::NotFound(id.to_owned()))?;
        if !caller.may_act_for(&order.user_id) {
            return Err(OrderError::Forbidden(format!(
                "order `{id}` belongs to another user"
            )));
        }
        Ok(order)
    }

    /// Pages default to the first, of [`DEFAULT_PAGE_SIZE`], at most [`MAX_PAGE_SIZE`]. A user
    /// who names nobody lists their own orders.
    pub async fn list(
        &self,
        caller: &Caller,
        mut filter: OrderFilter,
    ) -> Result<(Vec<Order>, u64), OrderError> {
        match (&filter.user_id, caller) {
            (None, Caller::User { id, role }) if *role < Role::Admin => {
                filter.user_id = Some(id.clone());
            }
            (Some(user_id), caller) if !caller.may_act_for(user_id) => {
                return Err(OrderError::Forbidden(format!(
                    "you may not list the orders of user `{user_id}`"
                )));
            }
            _ => {}
        }
        filter.page = filter.page.max(1);
        filter.page_size = match filter.page_size {
            0 => DEFAULT_PAGE_SIZE,
            size => size.min(MAX_PAGE_SIZE),
        };
        Ok(self.repo.list(&filter).await?)
    }

    pub async fn cancel(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
    ) -> Result<Order, OrderError> {
        // Whose order it is never changes, so checking before the conditional update is safe.
        self.get(caller, id).await?;
        let cancelled = self.repo.cancel(id, reason).await?;
        tracing::info!(order = %id, reason, "order cancelled");
        metrics::counter!(ORDERS_CANCELLED).increment(1);
        Ok(cancelled)
    }
}
