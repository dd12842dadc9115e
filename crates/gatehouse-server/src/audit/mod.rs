//! The audit log: every change and every failed sign-in, with the actor, the credential
//! they used, the target, and where the request came from. Events are written in the
//! same transaction as the change they describe, so the log cannot miss one.

pub mod handlers;

use crate::db::audit as store;

use actix_web::web;
use serde_json::Value;

use crate::auth::{ClientMeta, Principal};
use crate::clock;
use crate::db::{Database, DbConnection, QueryResult};
use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(crate::routing::resource("/audit-events").get(handlers::list));
}

/// An event about to be recorded. Build it outside the transaction, record it inside.
#[derive(Debug, Clone)]
pub struct Audit {
    action: &'static str,
    subscription_id: Option<String>,
    actor_id: Option<String>,
    actor_username: Option<String>,
    credential_kind: Option<String>,
    credential_id: Option<String>,
    target_type: Option<&'static str>,
    target_id: Option<String>,
    subject_user_id: Option<String>,
    /// The target's name as it was (`details.target_name`), so the log reads "OAuth
    /// client changed: Reports" even after a rename or deletion.
    target_name: Option<String>,
    details: Value,
    meta: ClientMeta,
}

impl Audit {
    /// An action taken by an authenticated caller.
    pub fn by(principal: &Principal, meta: &ClientMeta, action: &'static str) -> Audit {
        known(action);
        Audit {
            action,
            subscription_id: Some(principal.subscription.id.clone()),
            actor_id: Some(principal.user.id.clone()),
            actor_username: Some(principal.user.username.clone()),
            credential_kind: Some(principal.via.kind().to_string()),
            credential_id: Some(principal.via.id().to_string()),
            target_type: None,
            target_id: None,
            subject_user_id: None,
            target_name: None,
            details: Value::Object(Default::default()),
            meta: meta.clone(),
        }
    }

    /// An action with no authenticated actor yet (sign-in attempts), or an operator's
    /// command (`credential_kind: cli`).
    pub fn unauthenticated(meta: &ClientMeta, action: &'static str) -> Audit {
        known(action);
        Audit {
            action,
            subscription_id: None,
            actor_id: None,
            actor_username: None,
            credential_kind: None,
            credential_id: None,
            target_type: None,
            target_id: None,
            subject_user_id: None,
            target_name: None,
            details: Value::Object(Default::default()),
            meta: meta.clone(),
        }
    }

    pub fn actor(mut self, subscription_id: &str, user_id: &str, username: &str) -> Audit {
        self.subscription_id = Some(subscription_id.to_string());
        self.actor_id = Some(user_id.to_string());
        self.actor_username = Some(username.to_string());
        self
    }

    /// The subscription the event belongs to, when there is no signed-in actor.
    pub fn in_subscription(mut self, subscription_id: &str) -> Audit {
        self.subscription_id = Some(subscription_id.to_string());
        self
    }

    pub fn attempted_username(mut self, username: Option<&str>) -> Audit {
        self.actor_username = username.map(str::to_string);
        self
    }

    pub fn credential(mut self, kind: &str, id: Option<&str>) -> Audit {
        self.credential_kind = Some(kind.to_string());
        self.credential_id = id.map(str::to_string);
        self
    }

    /// What was acted on. A `user` target is also the event's subject.
    pub fn target(mut self, kind: &'static str, id: &str) -> Audit {
        self.target_type = Some(kind);
        self.target_id = Some(id.to_string());
        if kind == "user" {
            self.subject_user_id = Some(id.to_string());
        }
        self
    }

    /// The user the event concerns (the owner of a key or client), who sees it in
    /// their own log even when someone else acted.
    pub fn subject(mut self, user_id: &str) -> Audit {
        self.subject_user_id = Some(user_id.to_string());
        self
    }

    /// The target's name at the time, for people reading the log.
    pub fn named(mut self, name: &str) -> Audit {
        self.target_name = Some(name.to_string());
        self
    }

    pub fn details(mut self, details: Value) -> Audit {
        self.details = details;
        self
    }

    /// This event as a [`crate::auth::lockout::Recorder`]: recorded when the lockout
    /// calls it, with the details it gives.
    pub fn recorder(self) -> crate::auth::lockout::Recorder {
        std::sync::Arc::new(move |conn, details| match details {
            Some(d) => self.clone().details(d).record(conn),
            None => self.record(conn),
        })
    }

    /// Makes a change and records this event in one write transaction: the event is
    /// written after `change` succeeds, and if either fails neither is kept. Every change
    /// a caller asks for goes through here (the `layers::changes_record_their_audit_event`
    /// test holds the domains to it), so no change can forget its event.
    pub async fn write<T, F>(self, db: &Database, mut change: F) -> Result<T, ApiError>
    where
        F: FnMut(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        db.write(move |conn| {
            let out = change(conn)?;
            self.record(conn)?;
            Ok(out)
        })
        .await
    }

    /// Records this event inside the caller's own write, for events whose recording
    /// depends on what the write found (see [`Audit::write`] for the usual case).
    pub fn record(&self, conn: &mut DbConnection) -> QueryResult<()> {
        let id = uuid::Uuid::now_v7().to_string();
        let details = match (&self.target_name, &self.details) {
            (Some(name), Value::Object(d)) => {
                let mut d = d.clone();
                d.insert("target_name".into(), Value::String(name.clone()));
                Value::Object(d).to_string()
            }
            _ => self.details.to_string(),
        };
        store::insert(
            conn,
            &store::NewAuditEvent {
                id: &id,
                subscription_id: self.subscription_id.as_deref(),
                actor_id: self.actor_id.as_deref(),
                actor_username: self.actor_username.as_deref(),
                credential_kind: self.credential_kind.as_deref(),
                credential_id: self.credential_id.as_deref(),
                action: self.action,
                target_type: self.target_type,
                target_id: self.target_id.as_deref(),
                ip: self.meta.ip.as_deref(),
                user_agent: self.meta.user_agent.as_deref(),
                details: &details,
                created_at: self.meta.at,
                subject_user_id: self.subject_user_id.as_deref(),
            },
        )
    }
}

pub fn to_api(row: store::AuditEventRow) -> gatehouse_types::AuditEvent {
    gatehouse_types::AuditEvent {
        id: row.id,
        actor_id: row.actor_id,
        actor_username: row.actor_username,
        credential_kind: row.credential_kind,
        credential_id: row.credential_id,
        action: row.action,
        target_type: row.target_type,
        target_id: row.target_id,
        subject_user_id: row.subject_user_id,
        ip: row.ip,
        user_agent: row.user_agent,
        details: serde_json::from_str(&row.details).unwrap_or(Value::Null),
        created_at: clock::utc(row.created_at),
    }
}

/// Every recorded action is one of `gatehouse_types::audit::AuditAction`, whose labels
/// the web app shows: checked in every debug build (so in every test that records it).
fn known(action: &str) {
    debug_assert!(
        gatehouse_types::audit::AuditAction::parse(action).is_some(),
        "audit action {action} is not in gatehouse_types::audit::AuditAction"
    );
}
