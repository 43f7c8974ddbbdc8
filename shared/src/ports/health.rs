//! What `GET /health` asks of each dependency: does it answer?

use crate::domain::AppError;
use async_trait::async_trait;

/// One dependency of a deployment, probed with the cheapest call it answers.
#[async_trait]
pub trait Dependency: Send + Sync {
    /// How the report names it: a role (`table`), never a resource name.
    fn name(&self) -> &'static str;
    async fn ping(&self) -> Result<(), AppError>;
}
