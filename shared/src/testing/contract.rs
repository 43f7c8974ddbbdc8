//! Contract suites for the store ports. Each runs against the in-memory fake (in
//! this crate's unit tests) and against the DynamoDB adapter on the local
//! emulator (in the integration tests), so the fake cannot drift from the real
//! store. `unique` keeps runs against a shared table apart.

use crate::domain::permissions::PolicyDocument;
use crate::domain::{
    AppError, DisplayName, Email, NewProfile, ProfileCreation, Role, UserId, UserStatus, Window,
};
use crate::ports::{PolicyStore, ProfileStore, SessionStore, ThrottleKey, ThrottleStore};
use std::time::{SystemTime, UNIX_EPOCH};

fn fresh(unique: &str, what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("contract-{unique}-{what}-{nanos}")
}

/// Compare-and-set: a save names the version it read, and loses to any writer
/// that saved in between; a missing window is created only once.
/// `clear_all` forgets the subject's windows under the prefix, and only those.
pub async fn throttle_store(store: &dyn ThrottleStore, unique: &str) -> Result<(), AppError> {
    let subject = fresh(unique, "subject");
    let key = ThrottleKey {
        subject: subject.clone(),
        counter: "LOGIN".into(),
    };
    let first = Window {
        count: 1,
        expires_at: 1_000,
        not_before: 0,
    };
    let second = Window {
        count: 2,
        expires_at: 1_000,
        not_before: 990,
    };
    assert_eq!(store.load(&key).await?, None, "nothing stored yet");
    assert!(store.save(&key, &first, None).await?, "created");
    let Some(stored) = store.load(&key).await? else {
        panic!("the created window is not stored");
    };
    assert_eq!(stored.value, first);
    assert!(
        !store.save(&key, &second, None).await?,
        "a second create loses"
    );
    assert!(
        !store.save(&key, &second, Some(stored.version + 7)).await?,
        "a version never read loses"
    );
    assert_eq!(store.load(&key).await?, Some(stored), "unchanged");
    assert!(
        store.save(&key, &second, Some(stored.version)).await?,
        "the version read wins"
    );
    let Some(updated) = store.load(&key).await? else {
        panic!("the updated window is not stored");
    };
    assert_eq!(updated.value, second);
    assert_ne!(updated.version, stored.version);
    assert!(
        !store.save(&key, &first, Some(stored.version)).await?,
        "a stale version loses"
    );
    store.clear(&key).await?;
    assert_eq!(store.load(&key).await?, None, "cleared");
    store.clear(&key).await?;
    assert!(
        store.save(&key, &first, None).await?,
        "created again after a clear"
    );
    let per_ip = ThrottleKey {
        subject: subject.clone(),
        counter: "LOGIN#ip".into(),
    };
    let sends = ThrottleKey {
        subject: subject.clone(),
        counter: "SEND".into(),
    };
    let other = ThrottleKey {
        subject: fresh(unique, "other"),
        counter: "LOGIN".into(),
    };
    for k in [&per_ip, &sends, &other] {
        assert!(store.save(k, &first, None).await?);
    }
    store.clear_all(&subject, "LOGIN").await?;
    assert_eq!(store.load(&key).await?, None, "cleared by prefix");
    assert_eq!(store.load(&per_ip).await?, None, "cleared by prefix");
    assert!(store.load(&sends).await?.is_some(), "another counter stays");
    assert!(store.load(&other).await?.is_some(), "another subject stays");
    Ok(())
}

/// The cut-off only ever moves forward, also past sign-ins ended one at a
/// time (an item with only those) and without forgetting them; an ended
/// sign-in is forgotten only once no token of its can be alive.
pub async fn session_store(store: &dyn SessionStore, unique: &str) -> Result<(), AppError> {
    use crate::domain::session::ENDED_SIGN_IN_KEPT_SECONDS;
    let user = UserId::parse(&fresh(unique, "session"))?;
    let revoked_before = |c: crate::domain::session::SessionCutoff| c.revoked_before;
    assert_eq!(store.cutoff(&user).await?, Default::default());
    store.revoke_sessions(&user, 100).await?;
    assert_eq!(revoked_before(store.cutoff(&user).await?), Some(100));
    store.revoke_sessions(&user, 50).await?;
    assert_eq!(
        revoked_before(store.cutoff(&user).await?),
        Some(100),
        "an earlier cut-off never replaces a later one"
    );
    store.end_sign_in(&user, "jti-a", 1_000).await?;
    store.end_sign_in(&user, "jti-b", 1_010).await?;
    let cutoff = store.cutoff(&user).await?;
    assert_eq!(
        cutoff.revoked_before,
        Some(100),
        "ending one keeps the cut-off"
    );
    assert_eq!(
        cutoff.ended,
        [("jti-a".to_owned(), 1_000), ("jti-b".to_owned(), 1_010)].into()
    );
    store
        .end_sign_in(&user, "jti-c", 1_005 + ENDED_SIGN_IN_KEPT_SECONDS)
        .await?;
    assert_eq!(
        store.cutoff(&user).await?.ended.keys().collect::<Vec<_>>(),
        ["jti-b", "jti-c"],
        "jti-a's tokens have all expired"
    );
    // A later cut-off leaves the ended sign-ins ended (a sign-in begun after
    // it and ended stays refused).
    store.revoke_sessions(&user, 2_000_000_000).await?;
    let cutoff = store.cutoff(&user).await?;
    assert_eq!(cutoff.revoked_before, Some(2_000_000_000));
    assert_eq!(cutoff.ended.keys().collect::<Vec<_>>(), ["jti-b", "jti-c"]);

    // Sign-ins: listed newest first without the expired, touched at most once
    // a minute, forgotten one at a time or all together.
    let record =
        |id: &str, created_at: i64, expires_at: i64| crate::domain::session::SignInRecord {
            id: id.to_owned(),
            created_at,
            last_used_at: created_at,
            ip: Some("203.0.113.7".into()),
            user_agent: Some("curl/8.5.0".into()),
            mfa: id == "second",
            sealed_refresh_token: Some(format!("sealed-{id}")),
            expires_at,
        };
    store
        .record_sign_in(&user, &record("first", 1_000_000, 5_000))
        .await?;
    store
        .record_sign_in(&user, &record("second", 1_000_400, 5_000))
        .await?;
    store
        .record_sign_in(&user, &record("expired", 900_000, 1_500))
        .await?;
    let ids = |list: Vec<crate::domain::session::SignInRecord>| -> Vec<String> {
        list.into_iter().map(|r| r.id).collect()
    };
    let listed = store.sign_ins(&user, 2_000).await?;
    assert_eq!(
        listed[1],
        record("first", 1_000_000, 5_000),
        "kept as filed"
    );
    assert_eq!(ids(listed), ["second", "first"]);
    store.touch_sign_in(&user, "first", 1_030_000).await?;
    assert_eq!(
        store.sign_ins(&user, 2_000).await?[1].last_used_at,
        1_000_000
    );
    store.touch_sign_in(&user, "first", 1_061_000).await?;
    assert_eq!(
        store.sign_ins(&user, 2_000).await?[1].last_used_at,
        1_061_000
    );
    store.touch_sign_in(&user, "nobody", 1_061_000).await?;
    assert_eq!(
        ids(store.sign_ins(&user, 2_000).await?),
        ["second", "first"]
    );
    store.forget_sign_in(&user, "second").await?;
    store.forget_sign_in(&user, "second").await?;
    assert_eq!(ids(store.sign_ins(&user, 2_000).await?), ["first"]);
    store.forget_sign_ins(&user).await?;
    assert!(store.sign_ins(&user, 0).await?.is_empty());
    Ok(())
}

/// A profile is created once, with its roles; a second creation writes
/// nothing; its status can be set, and setting it for no profile says so.
pub async fn profile_store(store: &dyn ProfileStore, unique: &str) -> Result<(), AppError> {
    let user_id = UserId::parse(&fresh(unique, "profile"))?;
    let new = NewProfile {
        user_id: user_id.clone(),
        email: Email::parse(&format!("{}@example.com", user_id.as_str()))?,
        display_name: Some(DisplayName::parse("Ada")?),
        roles: vec![Role::parse("admin")?, Role::parse("user")?],
        admin_grant: false,
        created_at: chrono::Utc::now(),
    };
    assert_eq!(
        store.get_user(&user_id).await?.profile,
        None,
        "no profile yet"
    );
    assert_eq!(store.create_profile(&new).await?, ProfileCreation::Created);
    let created = store.get_user(&user_id).await?;
    let Some(profile) = created.profile.clone() else {
        panic!("the created profile is not stored");
    };
    assert_eq!(profile.email, new.email);
    assert_eq!(profile.display_name.as_deref(), Some("Ada"));
    assert_eq!(profile.roles, new.roles);
    assert_eq!(created.cutoff, Default::default());
    let again = NewProfile {
        display_name: Some(DisplayName::parse("Someone else")?),
        ..new.clone()
    };
    assert_eq!(
        store.create_profile(&again).await?,
        ProfileCreation::AlreadyExisted
    );
    assert_eq!(store.get_user(&user_id).await?, created, "unchanged");
    assert!(store.set_status(&user_id, UserStatus::Disabled).await?);
    let disabled = store
        .get_user(&user_id)
        .await?
        .profile
        .ok_or(AppError::NotFound("profile"))?;
    assert_eq!(disabled.status, UserStatus::Disabled);
    assert_eq!(disabled.roles, new.roles, "only the status changed");
    assert!(store.set_status(&user_id, UserStatus::Active).await?);
    let nobody = UserId::parse(&fresh(unique, "nobody"))?;
    assert!(!store.set_status(&nobody, UserStatus::Disabled).await?);
    assert_eq!(
        store.get_user(&nobody).await?.profile,
        None,
        "nothing created"
    );
    admin_grant_once(store, unique).await
}

/// An address's admin grant is taken once: the same user may take it again
/// (a retried trigger), another account for the address gets `GrantSpent` and
/// nothing is written.
async fn admin_grant_once(store: &dyn ProfileStore, unique: &str) -> Result<(), AppError> {
    let email = Email::parse(&format!("{}@example.com", fresh(unique, "granted")))?;
    let first = NewProfile {
        user_id: UserId::parse(&fresh(unique, "first-admin"))?,
        email: email.clone(),
        display_name: None,
        roles: vec![Role::parse("admin")?, Role::parse("user")?],
        admin_grant: true,
        created_at: chrono::Utc::now(),
    };
    assert_eq!(
        store.create_profile(&first).await?,
        ProfileCreation::Created
    );
    assert_eq!(
        store.create_profile(&first).await?,
        ProfileCreation::AlreadyExisted,
        "a retried trigger"
    );
    let recreated = NewProfile {
        user_id: UserId::parse(&fresh(unique, "second-admin"))?,
        ..first.clone()
    };
    assert_eq!(
        store.create_profile(&recreated).await?,
        ProfileCreation::GrantSpent
    );
    assert_eq!(
        store.get_user(&recreated.user_id).await?.profile,
        None,
        "nothing written"
    );
    let without = NewProfile {
        roles: vec![Role::parse("user")?],
        admin_grant: false,
        ..recreated
    };
    assert_eq!(
        store.create_profile(&without).await?,
        ProfileCreation::Created
    );
    Ok(())
}

/// Stored policies and the decision snapshot: every policy change bumps the
/// version in the same step; a snapshot reads the version with each user's
/// profile (roles included, as the roles API last set them) and session
/// cut-off. Other runs may share the store, so versions are compared, not
/// counted.
pub async fn policy_store<S: ProfileStore + PolicyStore>(
    store: &S,
    sessions: &dyn SessionStore,
    unique: &str,
) -> Result<(), AppError> {
    let user_id = UserId::parse(&fresh(unique, "principal"))?;
    let nobody = UserId::parse(&fresh(unique, "nobody"))?;
    let new = NewProfile {
        user_id: user_id.clone(),
        email: Email::parse(&format!("{}@example.com", user_id.as_str()))?,
        display_name: None,
        roles: vec![Role::parse("user")?],
        admin_grant: false,
        created_at: chrono::Utc::now(),
    };
    store.create_profile(&new).await?;
    let profile = store
        .get_user(&user_id)
        .await?
        .profile
        .ok_or(AppError::NotFound("profile"))?;
    let roles = vec![Role::parse("support")?, Role::parse("user")?];
    assert!(
        store
            .replace_roles(&user_id, profile.version, &profile.roles, &roles)
            .await?
    );
    sessions.revoke_sessions(&user_id, 1_700_000_000).await?;
    let before = store.snapshot(&[user_id.clone(), nobody.clone()]).await?;
    let seen = &before.users[&user_id];
    assert_eq!(
        seen.profile.as_ref().map(|p| p.roles.clone()),
        Some(roles),
        "the roles the roles API set"
    );
    assert_eq!(seen.cutoff.revoked_before, Some(1_700_000_000));
    assert_eq!(
        before.users[&nobody],
        Default::default(),
        "unknown: nothing"
    );

    let id = fresh(unique, "policy");
    let document = PolicyDocument {
        id: id.clone(),
        description: "support reads users".into(),
        policy:
            r#"permit (principal in Role::"support", action == Action::"users:read", resource);"#
                .into(),
    };
    assert!(store.put_policy(&document).await?, "new");
    let created = store.snapshot(&[]).await?.version;
    assert!(created > before.version, "a put bumps the version");
    let replaced = PolicyDocument {
        description: "changed".into(),
        ..document.clone()
    };
    assert!(!store.put_policy(&replaced).await?, "replaced, not new");
    let (listed_version, listed) = store.policies().await?;
    assert!(listed_version > created, "a replace bumps the version");
    assert!(listed.contains(&replaced), "{listed:?}");
    assert!(!listed.contains(&document));
    assert!(store.delete_policy(&id).await?);
    let (deleted_version, listed) = store.policies().await?;
    assert!(
        deleted_version > listed_version,
        "a delete bumps the version"
    );
    assert!(listed.iter().all(|p| p.id != id));
    assert!(!store.delete_policy(&id).await?, "already gone");
    Ok(())
}

/// The delivery ledger: a claim is granted once; a live claim is busy, an
/// expired one abandoned; a released one can be claimed again; a finished
/// delivery is done, and finishing it again changes nothing.
pub async fn delivery_ledger(
    ledger: &dyn crate::ports::notify::DeliveryLedger,
    unique: &str,
) -> Result<(), AppError> {
    use crate::ports::notify::{Claim, DeliveryStatus, Outcome};
    let notification = fresh(unique, "notification");
    let ada = UserId::parse(&fresh(unique, "ada"))?;
    let bob = UserId::parse(&fresh(unique, "bob"))?;
    assert_eq!(ledger.claim(&notification, &ada, 60).await?, Claim::Granted);
    assert_eq!(ledger.claim(&notification, &ada, 60).await?, Claim::Busy);
    assert_eq!(
        ledger.claim(&notification, &ada, -1).await?,
        Claim::Abandoned,
        "a claim past its lease"
    );
    ledger.release(&notification, &ada).await?;
    assert_eq!(
        ledger.claim(&notification, &ada, 60).await?,
        Claim::Granted,
        "released"
    );
    let sent = Outcome {
        status: DeliveryStatus::Sent,
        reason: None,
        provider_id: Some("m-1".into()),
    };
    ledger.finish(&notification, &ada, &sent).await?;
    assert_eq!(ledger.claim(&notification, &ada, 60).await?, Claim::Done);
    ledger.release(&notification, &ada).await?;
    assert_eq!(
        ledger.claim(&notification, &ada, 60).await?,
        Claim::Done,
        "release keeps a finished one"
    );
    let failed = Outcome {
        status: DeliveryStatus::Failed,
        reason: Some("late".into()),
        provider_id: None,
    };
    ledger.finish(&notification, &ada, &failed).await?;
    // Skipped without a claim (suppressed before sending).
    let suppressed = Outcome {
        status: DeliveryStatus::Suppressed,
        reason: Some("opted out".into()),
        provider_id: None,
    };
    ledger.finish(&notification, &bob, &suppressed).await?;
    assert_eq!(ledger.claim(&notification, &bob, 60).await?, Claim::Done);
    let address = Email::parse(&format!("{}@example.com", ada.as_str()))?;
    assert!(!ledger.undeliverable(&address).await?);
    ledger
        .mark_undeliverable(&address, "permanent bounce")
        .await?;
    ledger.mark_undeliverable(&address, "complaint").await?;
    assert!(ledger.undeliverable(&address).await?);
    Ok(())
}

/// Notifications: a record reads back with the counts its deliveries made; a
/// role's members page through and count; a fan-out page is claimed once; an
/// idempotency key is fresh, then in progress, then answered, and refuses
/// another request.
pub async fn notification_store(
    profiles: &dyn ProfileStore,
    store: &dyn crate::ports::notify::NotificationStore,
    ledger: &dyn crate::ports::notify::DeliveryLedger,
    unique: &str,
) -> Result<(), AppError> {
    use crate::domain::notifications::Channel;
    use crate::domain::permissions::Sender;
    use crate::ports::notify::{Claim, DeliveryStatus, KeyUse, NotificationRecord, Outcome};
    let id = fresh(unique, "notification");
    let sender = UserId::parse(&fresh(unique, "sender"))?;
    assert_eq!(store.notification(&id).await?, None);
    let record = NotificationRecord {
        id: id.clone(),
        sender: Some(Sender::User(sender)),
        template: "security-alert".into(),
        channel: Channel::Email,
        total: 2,
        created_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
    };
    store.create_notification(&record).await?;
    let ada = UserId::parse(&fresh(unique, "ada"))?;
    let outcome = Outcome {
        status: DeliveryStatus::Sent,
        reason: None,
        provider_id: Some("m".into()),
    };
    assert_eq!(ledger.claim(&id, &ada, 60).await?, Claim::Granted);
    ledger.finish(&id, &ada, &outcome).await?;
    ledger.finish(&id, &ada, &outcome).await?;
    let (read, counts) = store
        .notification(&id)
        .await?
        .ok_or(AppError::NotFound("notification"))?;
    assert_eq!(read, record);
    assert_eq!(
        (counts.sent, counts.suppressed, counts.failed),
        (1, 0, 0),
        "counted once"
    );

    let role = Role::parse(&fresh(unique, "role").to_ascii_lowercase())?;
    for i in 0..5 {
        let member = UserId::parse(&fresh(unique, &format!("member{i}")))?;
        profiles
            .create_profile(&NewProfile {
                user_id: member.clone(),
                email: Email::parse(&format!("{}@example.com", member.as_str()))?,
                display_name: None,
                roles: vec![role.clone()],
                admin_grant: false,
                created_at: chrono::Utc::now(),
            })
            .await?;
    }
    assert_eq!(store.count_role_members(&role).await?, 5);
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = store.role_members(&role, after.as_deref(), 2).await?;
        assert!(page.len() <= 2);
        seen.extend(page);
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "every member once");

    assert_eq!(store.claim_page(&id, 0, 60).await?, Claim::Granted);
    assert_eq!(store.claim_page(&id, 0, 60).await?, Claim::Busy);
    assert_eq!(store.claim_page(&id, 0, -1).await?, Claim::Abandoned);
    store.page_done(&id, 0).await?;
    assert_eq!(store.claim_page(&id, 0, 60).await?, Claim::Done);

    let scope = fresh(unique, "scope");
    assert_eq!(store.use_key(&scope, "k", "d1").await?, KeyUse::Fresh);
    assert_eq!(store.use_key(&scope, "k", "d1").await?, KeyUse::InProgress);
    assert_eq!(store.use_key(&scope, "k", "d2").await?, KeyUse::Mismatch);
    store.release_key(&scope, "k").await?;
    assert_eq!(
        store.use_key(&scope, "k", "d2").await?,
        KeyUse::Fresh,
        "released"
    );
    let answer = serde_json::json!({"notification_id": "n", "accepted": 1});
    store.key_answered(&scope, "k", &answer).await?;
    assert_eq!(
        store.use_key(&scope, "k", "d2").await?,
        KeyUse::Answered(answer)
    );
    store.release_key(&scope, "k").await?;
    assert!(
        matches!(store.use_key(&scope, "k", "d2").await?, KeyUse::Answered(_)),
        "an answered key stays"
    );
    // A sender's day: counted while it fits, refused whole (nothing counted)
    // when it would not; another day or sender starts afresh.
    let sender = fresh(unique, "sender");
    assert!(store.take_audience(&sender, "2026-12-08", 7, 10).await?);
    assert!(!store.take_audience(&sender, "2026-12-08", 4, 10).await?);
    assert!(store.take_audience(&sender, "2026-12-08", 3, 10).await?);
    assert!(!store.take_audience(&sender, "2026-12-08", 1, 10).await?);
    assert!(store.take_audience(&sender, "2026-12-09", 10, 10).await?);
    assert!(
        !store
            .take_audience(&fresh(unique, "other"), "2026-12-08", 11, 10)
            .await?
    );
    Ok(())
}
