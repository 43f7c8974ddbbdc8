//! A fake Cognito: sign-up, login, passwords and account administration.

use super::*;

pub(super) struct FakeUser {
    pub(super) id: UserId,
    password: String,
    code: String,
    reset_code: Option<String>,
    confirmed: bool,
    disabled: bool,
}

#[derive(Default)]
pub struct InMemoryIdentity {
    pub(super) users: Mutex<HashMap<Email, FakeUser>>,
    /// Live refresh tokens and access tokens, to the email they belong to.
    refresh_tokens: Mutex<HashMap<String, Email>>,
    pub(super) access_tokens: Mutex<HashMap<String, Email>>,
    /// Addresses told that someone tried to register them again.
    notices: Mutex<Vec<Email>>,
    counter: AtomicU64,
    /// Each user's authenticator, and the sign-ins waiting for its code
    /// (`memory::mfa`).
    pub(super) totp: Mutex<HashMap<Email, super::mfa::FakeTotp>>,
    pub(super) challenges: Mutex<HashMap<String, Email>>,
}

impl InMemoryIdentity {
    pub fn notices_to(&self, email: &str) -> usize {
        lock(&self.notices)
            .iter()
            .filter(|e| e.as_str() == email)
            .count()
    }

    pub(super) fn user_id_of(&self, email: &Email) -> Option<UserId> {
        lock(&self.users).get(email).map(|u| u.id.clone())
    }

    pub fn user_count(&self) -> usize {
        lock(&self.users).len()
    }

    /// The code "sent" to this address, as a test would read it from the outbox.
    pub fn code_for(&self, email: &str) -> Option<String> {
        let email = Email::parse(email).ok()?;
        lock(&self.users).get(&email).map(|u| u.code.clone())
    }

    pub fn reset_code_for(&self, email: &str) -> Option<String> {
        let email = Email::parse(email).ok()?;
        lock(&self.users)
            .get(&email)
            .and_then(|u| u.reset_code.clone())
    }

    pub(super) fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(super) fn issue(&self, email: &Email, id: &UserId, with_refresh: bool) -> Tokens {
        let n = self.next();
        let access = format!("access-{id}-{n}");
        lock(&self.access_tokens).insert(access.clone(), email.clone());
        let refresh = with_refresh.then(|| {
            let token = format!("refresh-{id}-{n}");
            lock(&self.refresh_tokens).insert(token.clone(), email.clone());
            token
        });
        Tokens {
            access_token: access,
            id_token: format!("id-{id}-{n}"),
            refresh_token: refresh,
            token_type: "Bearer",
            expires_in: 3600,
            issued: Some(TokenIssue {
                user_id: id.clone(),
                issued_at: Utc::now().timestamp(),
                session_id: Some(format!("sign-in-{id}-{n}")),
            }),
        }
    }

    fn email_of(&self, token: &AccessToken) -> Result<Email, AppError> {
        lock(&self.access_tokens)
            .get(token.expose())
            .cloned()
            .ok_or(AppError::Unauthenticated("the token has been revoked"))
    }

    fn revoke_all(&self, email: &Email) {
        lock(&self.refresh_tokens).retain(|_, e| e != email);
        lock(&self.access_tokens).retain(|_, e| e != email);
    }
}

#[async_trait]
impl SignUpIdentity for InMemoryIdentity {
    async fn sign_up(
        &self,
        email: &Email,
        password: &Password,
        _details: &SignUpDetails,
    ) -> Result<Registered, AppError> {
        let mut users = lock(&self.users);
        if users.contains_key(email) {
            return Err(AppError::EmailTaken);
        }
        let n = self.next();
        let id = UserId::parse(&format!("00000000-0000-4000-8000-{n:012}"))?;
        users.insert(
            email.clone(),
            FakeUser {
                id: id.clone(),
                password: password.expose().to_owned(),
                code: format!("{:06}", 100_000 + n),
                reset_code: None,
                confirmed: false,
                disabled: false,
            },
        );
        Ok(Registered {
            user_id: id,
            email: email.clone(),
            confirmed: false,
        })
    }

    async fn confirm_sign_up(
        &self,
        email: &Email,
        code: &ConfirmationCode,
    ) -> Result<(), AppError> {
        let mut users = lock(&self.users);
        let user = users.get_mut(email).ok_or(AppError::InvalidCode)?;
        if user.confirmed || user.code != code.expose() {
            return Err(AppError::InvalidCode);
        }
        user.confirmed = true;
        Ok(())
    }

    async fn resend_confirmation(&self, email: &Email) -> Result<(), AppError> {
        let n = self.next();
        if let Some(user) = lock(&self.users).get_mut(email).filter(|u| !u.confirmed) {
            user.code = format!("{:06}", 200_000 + n);
        }
        Ok(())
    }

    async fn notify_existing_account(&self, email: &Email) -> Result<(), AppError> {
        lock(&self.notices).push(email.clone());
        Ok(())
    }

    async fn delete_unconfirmed(&self, email: &Email) -> Result<bool, AppError> {
        let mut users = lock(&self.users);
        if users.get(email).is_some_and(|u| !u.confirmed) {
            users.remove(email);
            return Ok(true);
        }
        Ok(false)
    }

    async fn opens_unconfirmed(
        &self,
        email: &Email,
        password: &Password,
    ) -> Result<bool, AppError> {
        Ok(lock(&self.users)
            .get(email)
            .is_some_and(|u| !u.confirmed && u.password == password.expose()))
    }
}

#[async_trait]
impl Authenticator for InMemoryIdentity {
    async fn login(&self, email: &Email, password: &Password) -> Result<SignIn, AppError> {
        let (id, confirmed) = {
            let users = lock(&self.users);
            match users.get(email) {
                // As Cognito: a disabled user is refused before the password.
                Some(u) if !u.disabled && u.password == password.expose() => {
                    (u.id.clone(), u.confirmed)
                }
                _ => return Err(AppError::InvalidCredentials),
            }
        };
        if !confirmed {
            return Err(AppError::UserNotConfirmed);
        }
        if let Some(challenge) = self.totp_challenge(email, &id) {
            return Ok(SignIn::TotpRequired(challenge));
        }
        Ok(SignIn::Tokens(self.issue(email, &id, true)))
    }

    async fn answer_totp(
        &self,
        challenge: &MfaChallenge,
        code: &TotpCode,
    ) -> Result<Tokens, AppError> {
        self.answer(challenge, code)
    }

    async fn refresh(&self, token: &RefreshToken) -> Result<Tokens, AppError> {
        let email = lock(&self.refresh_tokens)
            .get(token.expose())
            .cloned()
            .ok_or(AppError::Unauthenticated(
                "the refresh token is invalid or revoked",
            ))?;
        let id = lock(&self.users)
            .get(&email)
            .filter(|u| !u.disabled)
            .map(|u| u.id.clone())
            .ok_or(AppError::Unauthenticated(
                "the refresh token is invalid or revoked",
            ))?;
        Ok(self.issue(&email, &id, false))
    }

    async fn revoke(&self, token: &RefreshToken) -> Result<(), AppError> {
        lock(&self.refresh_tokens).remove(token.expose());
        Ok(())
    }
}

#[async_trait]
impl PasswordIdentity for InMemoryIdentity {
    async fn change_password(
        &self,
        token: &AccessToken,
        current: &Password,
        new: &Password,
    ) -> Result<(), AppError> {
        let email = self.email_of(token)?;
        let mut users = lock(&self.users);
        let user = users.get_mut(&email).ok_or(AppError::InvalidCredentials)?;
        if user.password != current.expose() {
            return Err(AppError::InvalidCredentials);
        }
        user.password = new.expose().to_owned();
        Ok(())
    }

    async fn forgot_password(&self, email: &Email) -> Result<(), AppError> {
        let n = self.next();
        if let Some(user) = lock(&self.users).get_mut(email) {
            user.reset_code = Some(format!("{:06}", 300_000 + n));
        }
        Ok(())
    }

    async fn reset_password(
        &self,
        email: &Email,
        code: &ConfirmationCode,
        new: &Password,
    ) -> Result<(), AppError> {
        let mut users = lock(&self.users);
        let user = users.get_mut(email).ok_or(AppError::InvalidCode)?;
        if user.reset_code.as_deref() != Some(code.expose()) {
            return Err(AppError::InvalidCode);
        }
        user.password = new.expose().to_owned();
        user.reset_code = None;
        Ok(())
    }
}

#[async_trait]
impl AccountAdmin for InMemoryIdentity {
    async fn sign_out_everywhere(&self, email: &Email) -> Result<UserId, AppError> {
        let id = lock(&self.users)
            .get(email)
            .map(|u| u.id.clone())
            .ok_or(AppError::NotFound("user"))?;
        self.revoke_all(email);
        Ok(id)
    }

    /// The fake names each user by their id.
    async fn sign_out_user(&self, username: &str) -> Result<(), AppError> {
        let email = lock(&self.users)
            .iter()
            .find(|(_, u)| u.id.as_str() == username)
            .map(|(email, _)| email.clone());
        if let Some(email) = email {
            self.revoke_all(&email);
        }
        Ok(())
    }

    async fn set_phone(&self, _username: &str, _phone: &PhoneNumber) -> Result<(), AppError> {
        Ok(())
    }

    async fn request_email_change(&self, _username: &str, email: &Email) -> Result<bool, AppError> {
        Ok(!lock(&self.users).contains_key(email))
    }

    async fn delete_user(&self, username: &str) -> Result<(), AppError> {
        let email = lock(&self.users)
            .iter()
            .find(|(_, u)| u.id.as_str() == username)
            .map(|(email, _)| email.clone());
        if let Some(email) = email {
            self.revoke_all(&email);
            lock(&self.users).remove(&email);
        }
        Ok(())
    }

    async fn set_enabled(&self, username: &str, enabled: bool) -> Result<(), AppError> {
        let mut users = lock(&self.users);
        let user = users
            .values_mut()
            .find(|u| u.id.as_str() == username)
            .ok_or(AppError::NotFound("user"))?;
        user.disabled = !enabled;
        Ok(())
    }
}

/// A directory that knows one confirmed user (or nobody), for profile tests.
#[derive(Default)]
pub struct FixedDirectory(pub Option<ConfirmedUser>);

#[async_trait]
impl crate::ports::UserDirectory for FixedDirectory {
    async fn confirmed_user(&self, _token: &AccessToken) -> Result<ConfirmedUser, AppError> {
        self.0
            .clone()
            .ok_or(AppError::Unauthenticated("the token has been revoked"))
    }

    async fn verify_email(
        &self,
        _token: &AccessToken,
        _code: &ConfirmationCode,
    ) -> Result<(), AppError> {
        Err(AppError::InvalidCode)
    }

    async fn send_phone_code(&self, _token: &AccessToken) -> Result<(), AppError> {
        Ok(())
    }

    async fn verify_phone(
        &self,
        _token: &AccessToken,
        _code: &ConfirmationCode,
    ) -> Result<String, AppError> {
        Err(AppError::InvalidCode)
    }
}
