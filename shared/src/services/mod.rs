//! Use cases over the ports.

mod auth;
mod profiles;

pub use auth::{AuthService, ConfirmInput, LoginInput, RegisterInput};
pub use profiles::{ConfirmedUser, ProfileService};
