//! Use cases over the ports, one service per capability. A service takes domain
//! values (parsed at the edge by `crate::http::bodies` or the trigger handlers),
//! never wire strings.

mod audit;
pub mod auth;
mod health;
mod notifications;
mod permissions;
mod profiles;
pub(crate) mod retry;
mod throttle;
mod users;

pub use audit::Audit;
pub use auth::{
    Accepted, ConfirmService, Confirmed, Credentials, ForgotPasswordService, LoginService,
    LogoutService, MfaLoginService, PasswordChange, PasswordReset, PasswordResetService,
    PasswordService, RecoveryCodesService, RefreshService, Registration, SIGN_IN_DAYS,
    SecondFactor, SessionGuard, SessionList, SessionListService, SessionsParts, SessionsService,
    SignIns, SignUpAnswer, SignUpService, StepUp, SteppedUp, TakenAddresses, TotpDisablePorts,
    TotpDisableService, TotpEnabled, TotpStartPorts, TotpStartService, TotpStarted,
    TotpVerifyService,
};
pub use health::{HealthReport, HealthService};
pub use notifications::{
    AudienceSize, Breaker, DeliverySettings, DeliveryWorker, FeedbackService, Handled, Notices,
    NotificationService, NotificationState, NotificationStatus, NotificationView, Received,
    Recipients, SendAccepted, SendRequest, UnsubscribeService, back_off, unsubscribe_token,
    unsubscribe_user,
};
pub use permissions::{Authorised, ListedPolicy, Permissions, PolicyAdmin, Target, batch_item};
pub use profiles::{Onboarding, ProfileCreator, ProfileService, StartingRoles};
pub use throttle::{CodePurpose, CodeTry, LoginCount, LoginRefusal, Throttle, ThrottleLimits};
pub use users::MfaResetService;
pub use users::{
    AccountGuards, AccountService, AuditTrailService, EmailChangeVerification, EventPage,
    PhoneParts, PhoneService, RoleService, RoleSet, UserAdminService, UserListService, UserPage,
};
