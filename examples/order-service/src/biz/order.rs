//! Orders: what one is, what can go wrong with one, and what the use cases need from storage.

use std::future::Future;

/// Where an order is in its life. The numbers are the contract's `OrderStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

#[derive(Debug, Clone, PartialEq, Eq)]
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

#[derive(Debug, Clone, PartialEq, Eq)]
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
    #[error("the order's total does not fit in 64 bits of cents")]
    TotalTooLarge,
    #[error("storage failed")]
    Storage(#[from] anyhow::Error),
}

/// What the order use cases need from storage. Each method is one transaction.
pub trait OrderRepo: Send + Sync + 'static {
    /// Stores `order` as pending with `total_amount`, reserving each item's quantity from stock:
    /// all of it, or nothing and `InsufficientStock` / `ProductNotFound` / `InvalidUser`. With an
    /// idempotency key already used by the same user, stores nothing and returns that order.
    fn create(
        &self,
        order: &NewOrder,
        total_amount: i64,
    ) -> impl Future<Output = Result<Order, OrderError>> + Send;

    fn get(&self, id: &str) -> impl Future<Output = anyhow::Result<Option<Order>>> + Send;

    /// One page of the matching orders, newest first, and how many match in all.
    fn list(
        &self,
        filter: &OrderFilter,
    ) -> impl Future<Output = anyhow::Result<(Vec<Order>, u64)>> + Send;

    /// Cancels a pending or paid order and puts its items back in stock.
    fn cancel(&self, id: &str) -> impl Future<Output = Result<Order, OrderError>> + Send;

    /// Fails when storage cannot serve requests.
    fn ping(&self) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The page size when none is asked for, and the largest one served.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

#[derive(Debug)]
pub struct OrderUsecase<R> {
    repo: R,
}

impl<R: OrderRepo> OrderUsecase<R> {
    pub fn new(repo: R) -> Self {
        OrderUsecase { repo }
    }

    pub async fn ready(&self) -> anyhow::Result<()> {
        self.repo.ping().await
    }

    /// Places `order`; the total is computed here, never taken from the caller.
    pub async fn create(&self, order: NewOrder) -> Result<Order, OrderError> {
        let total_amount = order.items.iter().try_fold(0i64, |total, item| {
            item.unit_price
                .checked_mul(i64::from(item.quantity))
                .and_then(|line| total.checked_add(line))
        });
        let total_amount = total_amount.ok_or(OrderError::TotalTooLarge)?;
        let created = self.repo.create(&order, total_amount).await?;
        tracing::info!(order = %created.id, user = %created.user_id, total_amount, "order created");
        Ok(created)
    }

    pub async fn get(&self, id: &str) -> Result<Order, OrderError> {
        self.repo
            .get(id)
            .await?
            .ok_or_else(|| OrderError::NotFound(id.to_owned()))
    }

    /// Pages default to the first, of [`DEFAULT_PAGE_SIZE`], at most [`MAX_PAGE_SIZE`].
    pub async fn list(&self, mut filter: OrderFilter) -> Result<(Vec<Order>, u64), OrderError> {
        filter.page = filter.page.max(1);
        filter.page_size = match filter.page_size {
            0 => DEFAULT_PAGE_SIZE,
            size => size.min(MAX_PAGE_SIZE),
        };
        Ok(self.repo.list(&filter).await?)
    }

    pub async fn cancel(&self, id: &str, reason: &str) -> Result<Order, OrderError> {
        let cancelled = self.repo.cancel(id).await?;
        tracing::info!(order = %id, reason, "order cancelled");
        Ok(cancelled)
    }
}
