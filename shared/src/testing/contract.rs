//! Contract suites for the store ports. Each runs against the in-memory fake (in
//! this crate's unit tests) and against the DynamoDB adapter on the local
//! emulator (in the integration tests), so the fake cannot drift from the real
//! store. `unique` keeps runs against a shared table apart.

use crate::domain::{
    AppError, DisplayName, Email, NewProfile, ProfileCreation, Role, UserId, UserStatus, Window,
};
use crate::ports::{ProfileStore, SessionStore, ThrottleKey, ThrottleStore};
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

/// The cut-off only ever moves forward.
pub async fn session_store(store: &dyn SessionStore, unique: &str) -> Result<(), AppError> {
    let user = UserId::parse(&fresh(unique, "session"))?;
    assert_eq!(store.sessions_revoked_before(&user).await?, None);
    store.revoke_sessions(&user, 100).await?;
    assert_eq!(store.sessions_revoked_before(&user).await?, Some(100));
    store.revoke_sessions(&user, 50).await?;
    assert_eq!(
        store.sessions_revoked_before(&user).await?,
        Some(100),
        "an earlier cut-off never replaces a later one"
    );
    store.revoke_sessions(&user, 200).await?;
    assert_eq!(store.sessions_revoked_before(&user).await?, Some(200));
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
    assert_eq!(created.sessions_revoked_before, None);
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
    Ok(())
}
