//! What a function builds once per cold start: its configuration and the
//! adapters its use case needs, wired into one service. Each method here wires
//! one capability and builds only the AWS clients that capability calls, so a
//! function's binary uses exactly the services its IAM policy allows (the
//! integration tests check each function's wiring against `template.yaml`).
//!
//! No SDK here: clients are built by the adapters (`crate::adapters`), from the
//! SDK configuration [`AwsClients`] loads once. The only switch between AWS and
//! the local stack is the SDK's own endpoint configuration (`AWS_ENDPOINT_URL*`).

use crate::adapters::AwsClients;
use crate::adapters::client_secret::AppClientSecret;
use crate::adapters::cognito::{CognitoAdmin, CognitoDirectory, CognitoIdentity};
use crate::adapters::dynamodb::{DynamoTable, TableSigner};
use crate::adapters::health::{QueueProbe, TableProbe, UserPoolProbe};
use crate::adapters::kms::KmsSealer;
use crate::adapters::notify::{SesMailer, SnsSms, SqsQueue};
mod sessions;

use crate::config::{
    ConfigError, NotificationConfig, ProcessEnv, Source, TableConfig, admin_emails, app_name,
    audit_retention_days, mfa_key_id, mfa_required_roles, notification_daily_audience,
    notification_queue_url, password_policy, sms_countries, taken_addresses, throttle_limits,
    user_pool_client_id, user_pool_id,
};
use crate::services::{
    AccountService, Audit, AuditTrailService, ConfirmService, DeliverySettings, DeliveryWorker,
    EmailChangeVerification, FeedbackService, ForgotPasswordService, HealthService, LoginService,
    LogoutService, MfaLoginService, MfaResetService, Notices, NotificationService,
    NotificationStatus, Onboarding, PasswordResetService, PasswordService, Permissions, PhoneParts,
    PhoneService, PolicyAdmin, ProfileCreator, ProfileService, RecoveryCodesService,
    RefreshService, RoleService, SessionGuard, SignUpService, StartingRoles, StepUp, SteppedUp,
    Throttle, TotpDisablePorts, TotpDisableService, TotpStartPorts, TotpStartService,
    TotpVerifyService, UnsubscribeService, UserAdminService, UserListService,
};
use std::sync::Arc;

/// Configuration and AWS clients of one cold start. Build it once in `main`, then
/// call the one wiring method the function needs.
pub struct AppContext {
    aws: AwsClients,
    env: Box<dyn Source + Send + Sync>,
}

impl AppContext {
    /// The process environment and the SDK's default configuration chain.
    pub async fn from_env() -> Self {
        Self::new(AwsClients::from_env().await, ProcessEnv)
    }

    pub fn new(aws: AwsClients, env: impl Source + Send + Sync + 'static) -> Self {
        Self {
            aws,
            env: Box::new(env),
        }
    }

    /// The AWS clients the wiring built, for the least-privilege checks.
    pub fn clients(&self) -> &AwsClients {
        &self.aws
    }

    /// The API's confidential app client: its id, and its secret read from
    /// Cognito on first use (so the pool id is needed too).
    fn app_client(&self) -> Result<Arc<AppClientSecret>, ConfigError> {
        Ok(Arc::new(AppClientSecret::new(
            &self.aws,
            user_pool_id(&*self.env)?,
            user_pool_client_id(&*self.env)?,
        )))
    }

    fn cognito_with(&self, app: Arc<AppClientSecret>) -> Arc<CognitoIdentity> {
        Arc::new(CognitoIdentity::new(&self.aws, app))
    }

    fn cognito(&self) -> Result<Arc<CognitoIdentity>, ConfigError> {
        Ok(self.cognito_with(self.app_client()?))
    }

    /// The throttle windows in the table, named by digests keyed with the app
    /// client's secret.
    fn throttle(&self, app: Arc<AppClientSecret>) -> Result<Throttle, ConfigError> {
        Ok(Throttle::new(
            self.table()?,
            app,
            throttle_limits(&*self.env)?,
        ))
    }

    fn table(&self) -> Result<Arc<DynamoTable>, ConfigError> {
        let cfg = TableConfig::from_source(&*self.env)?;
        Ok(Arc::new(DynamoTable::new(&self.aws, cfg.table_name)))
    }

    /// The audit trail in the table, with the deployment's retention.
    fn audit(&self) -> Result<Audit, ConfigError> {
        Ok(Audit::new(self.table()?, audit_retention_days(&*self.env)?))
    }

    /// The one decision function: Cedar policies over the table's roles and
    /// stored policies.
    fn permissions(&self) -> Result<Arc<Permissions>, ConfigError> {
        Ok(Arc::new(
            Permissions::new(self.table()?).with_mfa_required(mfa_required_roles(&*self.env)?),
        ))
    }

    fn guard(&self) -> Result<SessionGuard, ConfigError> {
        let table = self.table()?;
        Ok(SessionGuard::new(
            table.clone(),
            table,
            mfa_required_roles(&*self.env)?,
        ))
    }

    /// Register and resend: Cognito, and the table's send limits.
    pub fn sign_up(&self) -> Result<SignUpService, ConfigError> {
        let app = self.app_client()?;
        Ok(SignUpService::new(
            self.cognito_with(app.clone()),
            self.throttle(app)?,
            password_policy(&*self.env)?,
            taken_addresses(&*self.env)?,
            self.audit()?,
        ))
    }

    /// Confirm: Cognito only.
    pub fn confirm_sign_up(&self) -> Result<ConfirmService, ConfigError> {
        let app = self.app_client()?;
        Ok(ConfirmService::new(
            self.cognito_with(app.clone()),
            self.throttle(app)?,
        ))
    }

    /// Login: Cognito, and the table's throttle windows and session cut-offs;
    /// the sign-in filed, its refresh token sealed (KMS).
    pub fn login(&self) -> Result<LoginService, ConfigError> {
        let app = self.app_client()?;
        Ok(LoginService::new(
            self.cognito_with(app.clone()),
            self.throttle(app)?,
            self.guard()?,
            self.audit()?,
            self.table()?,
            self.table()?,
            self.sign_ins()?,
        ))
    }

    /// The sealer of TOTP secrets: the deployment's KMS key.
    fn sealer(&self) -> Result<Arc<KmsSealer>, ConfigError> {
        Ok(Arc::new(KmsSealer::new(&self.aws, mfa_key_id(&*self.env)?)))
    }

    /// Starting an authenticator app's enrolment: Cognito (the user's
    /// software token and the password check), the table (the sealed secret,
    /// throttle windows) and KMS (sealing).
    pub fn totp_start(&self) -> Result<TotpStartService, ConfigError> {
        let app = self.app_client()?;
        let directory = Arc::new(CognitoDirectory::new(&self.aws));
        Ok(TotpStartService::new(
            TotpStartPorts {
                totp: directory.clone(),
                directory,
                authenticator: self.cognito_with(app.clone()),
                store: self.table()?,
                sealer: self.sealer()?,
            },
            self.throttle(app)?,
            self.guard()?,
            app_name(&*self.env)?,
        ))
    }

    /// Finishing it: the code checked against the sealed secret (KMS) and by
    /// Cognito; the table takes the recovery codes (and counts wrong codes,
    /// keyed with the app client's secret).
    pub fn totp_verify(&self) -> Result<TotpVerifyService, ConfigError> {
        Ok(TotpVerifyService::new(
            Arc::new(CognitoDirectory::new(&self.aws)),
            self.table()?,
            self.sealer()?,
            self.throttle(self.app_client()?)?,
            self.guard()?,
            self.audit()?,
            self.notices()?,
        ))
    }

    /// The second factor of a sensitive change: the table (the sealed secret,
    /// the steps and recovery codes taken, throttle windows) and KMS.
    fn step_up(&self, app: Arc<AppClientSecret>) -> Result<StepUp, ConfigError> {
        Ok(StepUp::new(
            self.table()?,
            self.sealer()?,
            self.throttle(app)?,
            self.audit()?,
            self.notices()?,
        ))
    }

    /// Turning the authenticator app off: Cognito (the password check, the
    /// user's MFA preference) and the step-up.
    pub fn totp_disable(&self) -> Result<TotpDisableService, ConfigError> {
        let app = self.app_client()?;
        let directory = Arc::new(CognitoDirectory::new(&self.aws));
        Ok(TotpDisableService::new(
            TotpDisablePorts {
                totp: directory.clone(),
                directory,
                authenticator: self.cognito_with(app.clone()),
            },
            self.step_up(app.clone())?,
            self.throttle(app)?,
            self.guard()?,
            self.audit()?,
        ))
    }

    /// New recovery codes: the step-up and the table.
    pub fn recovery_codes(&self) -> Result<RecoveryCodesService, ConfigError> {
        Ok(RecoveryCodesService::new(
            self.step_up(self.app_client()?)?,
            self.guard()?,
            self.audit()?,
        ))
    }

    /// The second step of a sign-in: Cognito, the table and KMS.
    pub fn mfa_login(&self) -> Result<MfaLoginService, ConfigError> {
        let app = self.app_client()?;
        Ok(MfaLoginService::new(
            self.cognito_with(app.clone()),
            self.table()?,
            self.sealer()?,
            self.throttle(app)?,
            self.audit()?,
            self.notices()?,
            self.sign_ins()?,
        ))
    }

    /// Refresh: Cognito, and the table (the sign-in's last use).
    pub fn refresh(&self) -> Result<RefreshService, ConfigError> {
        Ok(RefreshService::new(self.cognito()?, self.table()?))
    }

    /// Cognito's admin APIs on the pool (its id is required at cold start).
    fn cognito_admin(&self) -> Result<Arc<CognitoAdmin>, ConfigError> {
        Ok(Arc::new(CognitoAdmin::new(
            &self.aws,
            user_pool_id(&*self.env)?,
        )))
    }

    /// Logout: Cognito's administrative sign-out and the session cut-offs.
    pub fn logout(&self) -> Result<LogoutService, ConfigError> {
        Ok(LogoutService::new(
            self.cognito_admin()?,
            self.guard()?,
            self.audit()?,
        ))
    }

    /// Gatehouse's own notices, on the delivery queue.
    fn notices(&self) -> Result<Notices, ConfigError> {
        Ok(Notices::new(Arc::new(SqsQueue::new(
            &self.aws,
            notification_queue_url(&*self.env)?,
        ))))
    }

    /// Changing one's password: [`Self::passwords`] behind the step-up.
    pub fn password_change(&self) -> Result<SteppedUp<PasswordService>, ConfigError> {
        Ok(SteppedUp::new(
            self.passwords()?,
            self.step_up(self.app_client()?)?,
            self.guard()?,
        ))
    }

    /// Deleting one's account or changing its email: [`Self::own_account`]
    /// behind the step-up.
    pub fn own_account_stepped_up(&self) -> Result<SteppedUp<AccountService>, ConfigError> {
        Ok(SteppedUp::new(
            self.own_account()?,
            self.step_up(self.app_client()?)?,
            self.guard()?,
        ))
    }

    /// Change password: Cognito (public and admin APIs), the session cut-offs,
    /// and the notice to the owner.
    pub fn passwords(&self) -> Result<PasswordService, ConfigError> {
        Ok(PasswordService::new(
            self.cognito()?,
            self.cognito_admin()?,
            self.guard()?,
            password_policy(&*self.env)?,
            self.audit()?,
            self.notices()?,
        ))
    }

    /// Reset password: what a change needs, and the throttle (a reset lifts the
    /// email's login locks).
    pub fn password_reset(&self) -> Result<PasswordResetService, ConfigError> {
        let app = self.app_client()?;
        Ok(PasswordResetService::new(
            PasswordService::new(
                self.cognito_with(app.clone()),
                self.cognito_admin()?,
                self.guard()?,
                password_policy(&*self.env)?,
                self.audit()?,
                self.notices()?,
            ),
            self.throttle(app)?,
            self.table()?,
        ))
    }

    /// Forgot password: Cognito, and the table's send limits.
    pub fn forgot_password(&self) -> Result<ForgotPasswordService, ConfigError> {
        let app = self.app_client()?;
        Ok(ForgotPasswordService::new(
            self.cognito_with(app.clone()),
            self.throttle(app)?,
        ))
    }

    /// Profile creation over the table, with the roles new users start with.
    fn profile_creator(&self) -> Result<ProfileCreator, ConfigError> {
        let cfg = TableConfig::from_source(&*self.env)?;
        Ok(ProfileCreator::new(
            self.table()?,
            StartingRoles {
                default_role: cfg.default_role,
                admin_emails: admin_emails(&*self.env)?,
            },
            self.audit()?,
        ))
    }

    /// The post-confirmation trigger: the table, and the queue for the
    /// welcome email.
    pub fn onboarding(&self) -> Result<Onboarding, ConfigError> {
        Ok(Onboarding::new(self.profile_creator()?, self.notices()?))
    }

    /// Account administration: the table (roles, cut-offs, status) and
    /// Cognito's admin APIs on the pool.
    pub fn user_admin(&self) -> Result<UserAdminService, ConfigError> {
        Ok(UserAdminService::new(
            self.table()?,
            self.cognito_admin()?,
            self.guard()?,
            self.audit()?,
            self.permissions()?,
        ))
    }

    /// The helpdesk's reset of a user's second factor: Cognito's admin API, the
    /// table (the decision, the MFA record, the trail) and the notice.
    pub fn mfa_reset(&self) -> Result<MfaResetService, ConfigError> {
        Ok(MfaResetService::new(
            self.cognito_admin()?,
            self.table()?,
            self.permissions()?,
            self.audit()?,
            self.notices()?,
        ))
    }

    /// The admin's user list: the table (which also keeps the cursor key).
    pub fn user_list(&self) -> Result<UserListService, ConfigError> {
        let table = self.table()?;
        Ok(UserListService::new(
            table.clone(),
            Arc::new(TableSigner::new(table)),
            self.permissions()?,
        ))
    }

    /// A user's audit trail: the table (which also keeps the cursor key).
    pub fn audit_trail(&self) -> Result<AuditTrailService, ConfigError> {
        let table = self.table()?;
        Ok(AuditTrailService::new(
            table.clone(),
            Arc::new(TableSigner::new(table)),
            self.permissions()?,
        ))
    }

    /// A phone number for SMS: the table (and its SMS passes), Cognito (admin
    /// update, and the user's own token for the code), the allowed countries
    /// and the send limits.
    pub fn phone(&self) -> Result<PhoneService, ConfigError> {
        let app = self.app_client()?;
        let table = self.table()?;
        Ok(PhoneService::new(PhoneParts {
            store: table.clone(),
            directory: Arc::new(CognitoDirectory::new(&self.aws)),
            accounts: self.cognito_admin()?,
            passes: table,
            countries: sms_countries(&*self.env)?,
            throttle: self.throttle(app)?,
            audit: self.audit()?,
            guard: self.guard()?,
        }))
    }

    /// The custom message trigger: the table's SMS passes only.
    pub fn sms_passes(&self) -> Result<Arc<dyn crate::ports::SmsPasses>, ConfigError> {
        Ok(self.table()?)
    }

    /// The roles API: the table (role assignments, the caller's roles) and
    /// the audit trail.
    pub fn roles(&self) -> Result<RoleService, ConfigError> {
        Ok(RoleService::new(
            self.table()?,
            self.audit()?,
            self.permissions()?,
        ))
    }

    /// The delivery worker: the table (profiles, the ledger, the signing key of
    /// unsubscribe links), the queue (deliveries for later), SES and SNS.
    pub fn delivery_worker(&self) -> Result<DeliveryWorker, ConfigError> {
        let cfg = NotificationConfig::from_source(&*self.env)?;
        let table = self.table()?;
        Ok(DeliveryWorker::new(
            table.clone(),
            table.clone(),
            table.clone(),
            Arc::new(SqsQueue::new(&self.aws, cfg.queue_url.clone())),
            Arc::new(SesMailer::new(
                &self.aws,
                cfg.from.clone(),
                cfg.configuration_set.clone(),
            )),
            Arc::new(SnsSms::new(&self.aws)),
            Arc::new(TableSigner::new(table)),
            DeliverySettings {
                lease_secs: cfg.lease_secs,
                breaker_threshold: cfg.breaker_threshold,
                breaker_cooldown: std::time::Duration::from_secs(cfg.breaker_cooldown_secs),
                public_base_url: cfg.public_base_url,
                unsubscribe_valid_days: 60,
                max_receive_count: cfg.max_receive_count,
            },
        ))
    }

    /// Sending notifications and reading their status: the table (records,
    /// role members, idempotency keys, the policies) and the queue.
    pub fn notifications(&self) -> Result<NotificationService, ConfigError> {
        let table = self.table()?;
        Ok(NotificationService::new(
            self.permissions()?,
            table,
            Arc::new(SqsQueue::new(
                &self.aws,
                notification_queue_url(&*self.env)?,
            )),
            notification_daily_audience(&*self.env)?,
        ))
    }

    /// One-click unsubscribe: the table (profiles, the links' signing key).
    pub fn unsubscribe(&self) -> Result<UnsubscribeService, ConfigError> {
        let table = self.table()?;
        Ok(UnsubscribeService::new(
            table.clone(),
            Arc::new(TableSigner::new(table)),
        ))
    }

    /// SES bounce and complaint events: the table only.
    pub fn ses_feedback(&self) -> Result<FeedbackService, ConfigError> {
        Ok(FeedbackService::new(self.table()?))
    }

    /// A notification's status: the table only.
    pub fn notification_status(&self) -> Result<NotificationStatus, ConfigError> {
        Ok(NotificationStatus::new(self.permissions()?, self.table()?))
    }

    /// `GET /health`: one cheap read of the table, the user pool and the
    /// notification queue.
    pub fn health(&self) -> Result<HealthService, ConfigError> {
        let table = TableConfig::from_source(&*self.env)?.table_name;
        Ok(HealthService::new(
            vec![
                Arc::new(TableProbe::new(&self.aws, table)),
                Arc::new(UserPoolProbe::new(&self.aws, user_pool_id(&*self.env)?)),
                Arc::new(QueueProbe::new(
                    &self.aws,
                    notification_queue_url(&*self.env)?,
                )),
            ],
            env!("CARGO_PKG_VERSION"),
        ))
    }

    /// Permission checks for users and services: the table only.
    pub fn permission_checks(&self) -> Result<Arc<Permissions>, ConfigError> {
        self.permissions()
    }

    /// The policy administration API: the table and the audit trail.
    pub fn policy_admin(&self) -> Result<PolicyAdmin, ConfigError> {
        Ok(PolicyAdmin::new(
            self.permissions()?,
            self.table()?,
            self.audit()?,
        ))
    }

    /// One's own account (deletion, email change): the table, Cognito
    /// (sign-in to check the password, the user's token, the admin APIs) and
    /// the login and send limits.
    pub fn own_account(&self) -> Result<AccountService, ConfigError> {
        let app = self.app_client()?;
        Ok(AccountService::new(
            self.table()?,
            Arc::new(CognitoDirectory::new(&self.aws)),
            self.cognito_with(app.clone()),
            self.cognito_admin()?,
            crate::services::AccountGuards {
                throttle: self.throttle(app)?,
                sessions: self.guard()?,
                addresses: crate::config::sign_up_policy(&*self.env)?,
            },
            self.audit()?,
        ))
    }

    /// Completing an email change: [`Self::own_account`], and the queue for
    /// the notice to the old address.
    pub fn email_change_verification(&self) -> Result<EmailChangeVerification, ConfigError> {
        Ok(EmailChangeVerification::new(
            self.own_account()?,
            self.notices()?,
        ))
    }

    /// Profiles for API callers: the table, and Cognito's `GetUser` (with the
    /// caller's token) to create a profile that is missing.
    pub fn profiles(&self) -> Result<ProfileService, ConfigError> {
        Ok(ProfileService::new(
            self.profile_creator()?,
            Arc::new(CognitoDirectory::new(&self.aws)),
            self.permissions()?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::AwsService::{Cognito, DynamoDb, Kms, Sqs};
    use std::collections::HashMap;

    fn context() -> AppContext {
        let env: HashMap<&'static str, &'static str> = HashMap::from([
            ("USER_POOL_CLIENT_ID", "client"),
            ("USER_POOL_ID", "us-east-1_pool"),
            ("TABLE_NAME", "table"),
            ("DEFAULT_ROLE", "user"),
            ("PASSWORD_MIN_LENGTH", "10"),
            ("PASSWORD_REQUIRE_LOWERCASE", "true"),
            ("PASSWORD_REQUIRE_UPPERCASE", "true"),
            ("PASSWORD_REQUIRE_NUMBERS", "true"),
            ("PASSWORD_REQUIRE_SYMBOLS", "false"),
            ("LOGIN_FAILURES_PER_SOURCE_IP", "50"),
            ("SENDS_PER_SOURCE_IP", "20"),
            ("MFA_REQUIRED_ROLES", "admin"),
            ("MFA_KEY_ID", "arn:aws:kms:us-east-1:123456789012:key/test"),
            (
                "SESSION_KEY_ID",
                "arn:aws:kms:us-east-1:123456789012:key/sessions",
            ),
            ("API_URL", "https://api.example.com"),
            (
                "NOTIFICATION_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/123456789012/q",
            ),
        ]);
        AppContext::new(AwsClients::unconfigured(), env)
    }

    #[test]
    fn confirm_builds_cognito_and_the_table_for_the_codes_tried() {
        let ctx = context();
        ctx.confirm_sign_up().unwrap();
        assert_eq!(ctx.clients().built(), vec![Cognito, DynamoDb]);
    }

    #[test]
    fn the_post_confirmation_trigger_builds_no_cognito_client() {
        let ctx = context();
        ctx.onboarding().unwrap();
        assert_eq!(ctx.clients().built(), vec![DynamoDb, Sqs]);
    }

    #[test]
    fn login_builds_cognito_the_table_kms_and_the_queue() {
        let ctx = context();
        ctx.login().unwrap();
        assert_eq!(ctx.clients().built(), vec![Cognito, DynamoDb, Kms, Sqs]);
    }

    #[test]
    fn the_password_functions_need_the_pool_id_at_cold_start() {
        let env: HashMap<&'static str, &'static str> = HashMap::from([
            ("USER_POOL_CLIENT_ID", "client"),
            ("TABLE_NAME", "table"),
            ("DEFAULT_ROLE", "user"),
            ("LOGIN_FAILURES_PER_SOURCE_IP", "50"),
            ("SENDS_PER_SOURCE_IP", "20"),
        ]);
        let ctx = AppContext::new(AwsClients::unconfigured(), env);
        assert_eq!(
            ctx.passwords().err(),
            Some(ConfigError::Missing("USER_POOL_ID"))
        );
    }
}
