//! Use cases over the ports.

mod auth;
mod profiles;

pub use auth::{
    Accepted, AuthService, ChangePasswordInput, ConfirmInput, Confirmed, EmailInput, LoginInput,
    RefreshInput, RegisterInput, ResetPasswordInput,
};
pub use profiles::{ConfirmedUser, ProfileService};
