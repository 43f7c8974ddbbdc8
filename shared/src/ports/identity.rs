//! The identity provider (Cognito in production), one port per capability.

use crate::domain::mfa::{MfaChallenge, SignIn, TotpCode, TotpSecret};
use crate::domain::{
    AccessToken, AppError, ConfirmationCode, ConfirmedUser, DisplayName, Email, Locale, Password,
    PhoneNumber, RefreshToken, Registered, Tokens, UserId,
};
use async_trait::async_trait;

/// What a sign-up carries besides the credentials.
#[derive(Debug, Clone, Default)]
pub struct SignUpDetails {
    pub display_name: Option<DisplayName>,
    pub locale: Option<Locale>,
}

/// Creating and confirming accounts (public APIs: no IAM permission needed).
#[async_trait]
pub trait SignUpIdentity: Send + Sync {
    /// `EmailTaken` when the address is registered already.
    async fn sign_up(
        &self,
        email: &Email,
        password: &Password,
        details: &SignUpDetails,
    ) -> Result<Registered, AppError>;

    /// `InvalidCode` for a wrong code, an unknown account or one already
    /// confirmed (no enumeration), or `ExpiredCode`.
    async fn confirm_sign_up(&self, email: &Email, code: &ConfirmationCode)
    -> Result<(), AppError>;

    /// Sends a new sign-up code. Succeeds, sending nothing, for an unknown or
    /// already confirmed account, so callers cannot tell them apart.
    async fn resend_confirmation(&self, email: &Email) -> Result<(), AppError>;

    /// Tells the owner of a registered address that someone tried to sign up
    /// with it (with a reset code, or a fresh confirmation code if the account is
    /// unconfirmed). Succeeds quietly whatever the account's state.
    async fn notify_existing_account(&self, email: &Email) -> Result<(), AppError>;

    /// Deletes the address's account if it was never confirmed (whether it
    /// did): an unconfirmed account proves nothing, so a new sign-up for the
    /// address replaces it rather than inheriting its password.
    async fn delete_unconfirmed(&self, email: &Email) -> Result<bool, AppError>;

    /// Whether the address has an unconfirmed account and `password` is its
    /// password: what a confirmation must show besides the mailed code, so
    /// that confirming proves the mailbox for the registration the confirmer
    /// made and no other. `false` for an unknown or a confirmed account.
    async fn opens_unconfirmed(&self, email: &Email, password: &Password)
    -> Result<bool, AppError>;
}

/// Password and refresh-token authentication.
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// `InvalidCredentials` for a wrong password or an unknown email alike. A
    /// user with TOTP on gets the challenge, not tokens (the provider enforces
    /// it, so a sign-in around Gatehouse meets it too).
    async fn login(&self, email: &Email, password: &Password) -> Result<SignIn, AppError>;

    /// Answers a TOTP challenge: the tokens, `WrongMfaCode` (the challenge
    /// stands), or `InvalidMfaSession` (expired or answered already).
    async fn answer_totp(
        &self,
        challenge: &MfaChallenge,
        code: &TotpCode,
    ) -> Result<Tokens, AppError>;

    /// New access and id tokens; `Unauthenticated` for a revoked or unknown token.
    async fn refresh(&self, token: &RefreshToken) -> Result<Tokens, AppError>;

    /// Revokes one sign-in's refresh token at the provider, so a refresh with
    /// it is refused there too (also around Gatehouse); revoking it again is
    /// fine, any refusal is an error.
    async fn revoke(&self, token: &RefreshToken) -> Result<(), AppError>;
}

/// Changing and resetting passwords.
#[async_trait]
pub trait PasswordIdentity: Send + Sync {
    /// `InvalidCredentials` when `current` is wrong.
    async fn change_password(
        &self,
        token: &AccessToken,
        current: &Password,
        new: &Password,
    ) -> Result<(), AppError>;

    /// Sends a reset code. Succeeds, sending nothing, for an unknown account.
    async fn forgot_password(&self, email: &Email) -> Result<(), AppError>;

    /// `InvalidCode` for a wrong code or an unknown account, or `ExpiredCode`.
    async fn reset_password(
        &self,
        email: &Email,
        code: &ConfirmationCode,
        new: &Password,
    ) -> Result<(), AppError>;
}

/// Acting on an account without its token (Cognito's admin APIs: these need IAM
/// permissions and the pool id).
#[async_trait]
pub trait AccountAdmin: Send + Sync {
    /// Revokes every refresh token of the account with this email; returns its id.
    async fn sign_out_everywhere(&self, email: &Email) -> Result<UserId, AppError>;

    /// Revokes every refresh token of the user, whatever state their access token
    /// is in (a sign-out by token fails once the token expires in flight). A user
    /// who no longer exists has no tokens left: that succeeds.
    async fn sign_out_user(&self, username: &str) -> Result<(), AppError>;

    /// Enables or disables sign-in for the user (a disabled user can neither log
    /// in nor refresh). `NotFound` for a user the provider does not know.
    async fn set_enabled(&self, username: &str, enabled: bool) -> Result<(), AppError>;

    /// Starts moving the user to `email`: the provider holds it until the code
    /// it sends there is entered. `Ok(false)` when another account has the
    /// address: nothing is sent or changed (callers must not tell the caller).
    async fn request_email_change(&self, username: &str, email: &Email) -> Result<bool, AppError>;

    /// Sets the user's phone number, not yet verified.
    async fn set_phone(&self, username: &str, phone: &PhoneNumber) -> Result<(), AppError>;

    /// Deletes the user; a user already gone is a success.
    async fn delete_user(&self, username: &str) -> Result<(), AppError>;
}

/// The identity provider's view of a user, read with their own access token.
#[async_trait]
pub trait UserDirectory: Send + Sync {
    async fn confirmed_user(&self, token: &AccessToken) -> Result<ConfirmedUser, AppError>;

    /// Completes a pending email change with the code sent to the new address:
    /// `InvalidCode` or `ExpiredCode` otherwise.
    async fn verify_email(
        &self,
        token: &AccessToken,
        code: &ConfirmationCode,
    ) -> Result<(), AppError>;

    /// Sends a code by SMS to the user's phone number.
    async fn send_phone_code(&self, token: &AccessToken) -> Result<(), AppError>;

    /// Marks the phone number verified with the code sent to it; the number
    /// the identity provider now holds as verified (the one the code proved,
    /// whatever a racing change wrote elsewhere meanwhile).
    async fn verify_phone(
        &self,
        token: &AccessToken,
        code: &ConfirmationCode,
    ) -> Result<String, AppError>;
}

/// The helpdesk's side of the second factor (Cognito's admin API: IAM).
#[async_trait]
pub trait MfaAdmin: Send + Sync {
    /// Sign-in asks the user for no TOTP code any more. `NotFound` for a user
    /// the provider does not know.
    async fn turn_off_totp(&self, username: &str) -> Result<(), AppError>;
}

/// The user's authenticator app, as the identity provider keeps it (Cognito's
/// software token: it checks the codes at sign-in itself).
#[async_trait]
pub trait TotpIdentity: Send + Sync {
    /// A new secret for the user, not in use until verified.
    async fn associate(&self, token: &AccessToken) -> Result<TotpSecret, AppError>;

    /// Verifies a code of the new secret, which becomes the user's:
    /// `WrongMfaCode` otherwise.
    async fn verify(&self, token: &AccessToken, code: &TotpCode) -> Result<(), AppError>;

    /// Turns TOTP at sign-in on or off for the token's user.
    async fn set_enabled(&self, token: &AccessToken, enabled: bool) -> Result<(), AppError>;
}
