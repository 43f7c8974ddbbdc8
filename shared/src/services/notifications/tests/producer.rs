use super::*;
use super::{Fixture, fixture};
use crate::domain::{AccessToken, Caller, NewProfile, Role, Subject};
use serde_json::json;

async fn user(f: &Fixture, roles: &[&str]) -> UserId {
    let id = UserId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
    f.profiles
        .create_profile(&NewProfile {
            user_id: id.clone(),
            email: Email::parse(&format!("{id}@example.com")).unwrap(),
            display_name: None,
            roles: roles.iter().map(|r| Role::parse(r).unwrap()).collect(),
            admin_grant: false,
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    id
}

fn as_user(id: &UserId) -> Subject {
    Subject::User(Caller {
        user_id: id.clone(),
        username: id.as_str().to_owned(),
        groups: vec![],
        issued_at: chrono::Utc::now().timestamp(),
        access_token: AccessToken::parse("eyJ.test").unwrap(),
        session_id: None,
    })
}

fn request(recipients: Recipients, key: Option<&str>) -> SendRequest {
    SendRequest {
        recipients,
        channel: Channel::Email,
        template: "security-alert".into(),
        data: json!({"message": "m"}).as_object().cloned().unwrap(),
        idempotency_key: key.map(str::to_owned),
        dry_run: false,
    }
}

#[tokio::test]
async fn a_dry_run_counts_the_audience_and_records_and_queues_nothing() {
    let f = fixture();
    let admin = user(&f, &["admin"]).await;
    let role = format!("dry-{}", uuid::Uuid::new_v4().simple());
    for _ in 0..3 {
        user(&f, &["user", &role]).await;
    }
    let dry = SendRequest {
        dry_run: true,
        ..request(Recipients::Role(Role::parse(&role).unwrap()), None)
    };
    let size = f.service.audience(&as_user(&admin), &dry).await.unwrap();
    assert_eq!(
        size,
        crate::services::AudienceSize {
            dry_run: true,
            targeted: 3
        }
    );
    assert!(f.queue.queued.lock().unwrap().is_empty(), "nothing queued");
    // Checked as a send is: a caller who may not send learns nothing.
    let plain = user(&f, &["user"]).await;
    assert!(matches!(
        f.service.audience(&as_user(&plain), &dry).await,
        Err(AppError::Forbidden(_))
    ));
}

/// Runs the worker over everything queued until the queue is empty.
async fn drain(f: &Fixture) {
    loop {
        let batch: Vec<_> = std::mem::take(&mut *f.queue.queued.lock().unwrap());
        if batch.is_empty() {
            return;
        }
        for (message, _) in batch {
            let body = serde_json::to_string(&message).unwrap();
            assert_eq!(f.worker.handle(&body).await, Handled::Done);
        }
    }
}

#[tokio::test]
async fn only_callers_the_policies_allow_may_send() {
    let f = fixture();
    let plain = user(&f, &["user"]).await;
    let err = f
        .service
        .send(
            &as_user(&plain),
            request(Recipients::Users(vec![plain.clone()]), None),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
    let unscoped = Subject::Service {
        client_id: "svc".into(),
        scopes: vec!["gatehouse/permissions.check".into()],
    };
    assert!(matches!(
        f.service
            .send(
                &unscoped,
                request(Recipients::Users(vec![plain.clone()]), None)
            )
            .await,
        Err(AppError::Forbidden(_))
    ));
    let scoped = Subject::Service {
        client_id: "svc".into(),
        scopes: vec!["gatehouse/notifications.send".into()],
    };
    let accepted = f
        .service
        .send(
            &scoped,
            request(Recipients::Users(vec![plain.clone(), plain]), None),
        )
        .await
        .unwrap();
    assert_eq!(accepted.accepted, 1, "recipients are counted once");
}

#[tokio::test]
async fn bad_sends_are_refused_before_anything_is_queued() {
    let f = fixture();
    let admin = user(&f, &["admin"]).await;
    let as_admin = as_user(&admin);
    let mut unknown = request(Recipients::Users(vec![admin.clone()]), None);
    unknown.template = "nope".into();
    assert!(matches!(
        f.service.send(&as_admin, unknown).await,
        Err(AppError::Validation {
            field: "template",
            ..
        })
    ));
    let mut missing = request(Recipients::Users(vec![admin.clone()]), None);
    missing.data = serde_json::Map::new();
    assert!(matches!(
        f.service.send(&as_admin, missing).await,
        Err(AppError::Validation { field: "data", .. })
    ));
    let many: Vec<UserId> = (0..1001)
        .map(|_| UserId::parse(&uuid::Uuid::new_v4().to_string()).unwrap())
        .collect();
    assert!(matches!(
        f.service
            .send(&as_admin, request(Recipients::Users(many), None))
            .await,
        Err(AppError::Validation {
            field: "recipients",
            ..
        })
    ));
    assert!(f.queue.queued.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_role_fans_out_page_by_page_and_the_status_counts_every_delivery() {
    let f = fixture();
    let admin = user(&f, &["admin"]).await;
    for _ in 0..(2 * ROLE_PAGE + 5) {
        user(&f, &["beta"]).await;
    }
    let accepted = f
        .service
        .send(
            &as_user(&admin),
            request(Recipients::Role(Role::parse("beta").unwrap()), None),
        )
        .await
        .unwrap();
    assert_eq!(accepted.accepted, 2 * ROLE_PAGE as u64 + 5);
    let status = f
        .status
        .status(&as_user(&admin), &accepted.notification_id)
        .await
        .unwrap();
    assert_eq!(status.status, crate::services::NotificationState::Queued);
    drain(&f).await;
    assert_eq!(f.mail.sent.lock().unwrap().len(), 2 * ROLE_PAGE + 5);
    let status = f
        .status
        .status(&as_user(&admin), &accepted.notification_id)
        .await
        .unwrap();
    assert_eq!(status.status, crate::services::NotificationState::Done);
    assert_eq!(status.counts.sent, 2 * ROLE_PAGE as u64 + 5);
    assert_eq!(status.counts.queued, 0);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let f = fixture();
    let admin = user(&f, &["admin"]).await;
    let bob = user(&f, &["user"]).await;
    let first = f
        .service
        .send(
            &as_user(&admin),
            request(Recipients::Users(vec![bob.clone()]), Some("k-1")),
        )
        .await
        .unwrap();
    let queued = f.queue.queued.lock().unwrap().len();
    let again = f
        .service
        .send(
            &as_user(&admin),
            request(Recipients::Users(vec![bob.clone()]), Some("k-1")),
        )
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(
        f.queue.queued.lock().unwrap().len(),
        queued,
        "nothing new queued"
    );
    let mut other = request(Recipients::Users(vec![bob.clone()]), Some("k-1"));
    other.data = json!({"message": "different"})
        .as_object()
        .cloned()
        .unwrap();
    assert!(matches!(
        f.service.send(&as_user(&admin), other).await,
        Err(AppError::Conflict(_))
    ));
    // Bob may not read the admin's notification; the admin may.
    assert!(matches!(
        f.status
            .status(&as_user(&bob), &first.notification_id)
            .await,
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        f.status
            .status(&as_user(&admin), "00000000-0000-4000-8000-000000000000")
            .await,
        Err(AppError::NotFound(_))
    ));
    assert!(matches!(
        f.status
            .status(&as_user(&bob), "00000000-0000-4000-8000-000000000000")
            .await,
        Err(AppError::Forbidden(_))
    ));
}

#[tokio::test]
async fn a_sender_targets_at_most_the_daily_audience_and_a_refused_send_counts_nothing() {
    let f = super::fixture_with_daily_audience(10);
    let admin = user(&f, &["admin"]).await;
    let mut seven = Vec::new();
    for _ in 0..7 {
        seven.push(user(&f, &["user"]).await);
    }
    let sent = f
        .service
        .send(
            &as_user(&admin),
            request(Recipients::Users(seven.clone()), None),
        )
        .await
        .unwrap();
    assert_eq!(sent.accepted, 7);
    // Seven of the day's ten are taken: four more would pass the limit.
    let refused = f
        .service
        .send(
            &as_user(&admin),
            request(Recipients::Users(seven[..4].to_vec()), None),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            AppError::TooManyRequests {
                retry_after: Some(_)
            }
        ),
        "{refused:?}"
    );
    // Refused whole: three still fit.
    let fits = f
        .service
        .send(
            &as_user(&admin),
            request(Recipients::Users(seven[..3].to_vec()), None),
        )
        .await
        .unwrap();
    assert_eq!(fits.accepted, 3);
    // Each sender has a day of their own.
    let other = user(&f, &["admin"]).await;
    let theirs = f
        .service
        .send(
            &as_user(&other),
            request(Recipients::Users(seven[..4].to_vec()), None),
        )
        .await
        .unwrap();
    assert_eq!(theirs.accepted, 4);
}
