//! The caller and the permission table: [`Principal`] (the user as they are now, their
//! subscription, and the credential it came [`Via`]), the [`Action`]s handlers are about
//! to take, and [`Principal::require`], which holds every rule of who may take which.
//! The table is tested whole below: every role × every kind of credential × every action.

use std::sync::Arc;

use chrono::NaiveDateTime;
use gatehouse_types::{Permission, Role, codes};

use crate::db::subscriptions::SubscriptionRow;
use crate::db::users::UserRow;
use crate::error::ApiError;
use crate::secret::SecretString;

/// The credential a request authenticated with.
#[derive(Debug, Clone)]
pub enum Via {
    Session {
        id: String,
        created_at: NaiveDateTime,
        expires_at: NaiveDateTime,
        idle_expires_at: NaiveDateTime,
        /// Redacted in `Debug`: it is as good as the cookie for unsafe requests.
        csrf_token: SecretString,
        /// How the person signed in (OpenID Connect `amr` values, space-separated).
        amr: String,
        /// When the person last proved themselves: signed in, or confirmed their
        /// password again (sudo mode).
        verified_at: NaiveDateTime,
        /// Whether that was recent enough for sensitive actions ([`session::SUDO_WINDOW`]).
        sudo: bool,
        /// The subscription requires a second step of this person and they signed in
        /// without one: only setting one up is allowed (see [`Hold`]).
        enrolment_required: bool,
        /// The person signed in with a temporary password: only choosing their own is
        /// allowed (see [`Hold`]).
        password_change_required: bool,
    },
    ApiKey {
        id: String,
        name: String,
        /// The permission the key was created with.
        key_permission: Permission,
        /// What it may do now: narrowed to read-only when its user's role no longer
        /// allows full access.
        permission: Permission,
        /// The key's `GET /api/v1/session` answer, serialized once per key cache entry
        /// (a function of the entry's rows, dropped with it).
        answer: Arc<std::sync::OnceLock<actix_web::web::Bytes>>,
    },
    /// An OAuth access token: `permission` is what its `api:*` scopes allow, `None`
    /// when it has none (an OpenID Connect-only token, which the JSON API refuses).
    OAuth {
        grant_id: String,
        client_id: String,
        client_name: String,
        scopes: Vec<String>,
        permission: Option<Permission>,
        /// The browser origins the token's client registered (CORS).
        client_origins: Vec<String>,
    },
}

impl Via {
    pub fn kind(&self) -> &'static str {
        match self {
            Via::Session { .. } => "session",
            Via::ApiKey { .. } => "api_key",
            Via::OAuth { .. } => "oauth",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Via::Session { id, .. } | Via::ApiKey { id, .. } => id,
            Via::OAuth { client_id, .. } => client_id,
        }
    }
}

/// An authenticated caller: the user as they are now, their subscription, and how they
/// proved it.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: Arc<UserRow>,
    pub subscription: Arc<SubscriptionRow>,
    pub via: Via,
}

/// Declares [`Action`] and [`Action::ALL`], so that the permission table's test
/// reaches every action there is.
macro_rules! actions {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// What a handler is about to do. Each variant is checked against the caller's
        /// role and credential in [`Principal::require`], by its [`Action::rule`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Action {
            $($(#[$doc])* $name,)*
        }

        impl Action {
            /// Every action, in the order declared.
            pub const ALL: &'static [Action] = &[$(Action::$name),*];
        }
    };
}

actions! {
    /// Sign out: only a session can end itself.
    SignOut,
    /// List one's signed-in browsers and end them: only a session.
    ManageOwnSessions,
    /// Confirm the password again (sudo mode): only a session.
    ConfirmPassword,
    /// Edit one's own display name or e-mail.
    EditProfile,
    /// Needs the current password and a signed-in session.
    ChangePassword,
    /// Read the subscription's users.
    ViewUsers,
    /// Create, edit, disable, unlock or delete users. Needs a signed-in session: a
    /// leaked admin key must not be able to create an admin with a password of its
    /// choosing and sign in as them.
    ManageUsers,
    /// Change the subscription's settings.
    ChangeSettings,
    /// Read the whole subscription's audit log (everyone may read their own).
    ViewSubscriptionAudit,
    /// Create, rename or reset one's own API key: only a signed-in person, never a
    /// key or token, may mint or change a secret.
    ManageOwnApiKeys,
    /// Reset another user's key: an admin, signed in.
    ResetAnyApiKey,
    /// List every key of the subscription.
    ViewSubscriptionApiKeys,
    /// Read OAuth clients (one's own, or all for admins).
    ViewOAuthClients,
    /// Register, edit or delete OAuth clients.
    ManageOAuthClients,
    /// Mint a client secret: register a client (signed in recently: a client is a way to
    /// credentials that outlive the session).
    IssueClientSecret,
    /// Change where a client's codes and tokens are sent (its callback URLs, origins,
    /// back-channel logout), or the role of its service account: like a secret, only a
    /// person signed in recently, never a key.
    RedirectOAuthClient,
    /// Mark a client standard (or not): its consent is then skipped for everyone, so
    /// only an administrator, signed in, may — never a key, however full its access.
    MarkStandard,
    /// Disable (or enable) any client of the subscription: it stops every grant of the
    /// client, so only an administrator, signed in recently — never a key.
    DisableOAuthClient,
    /// List or revoke one's authorized applications.
    ManageAuthorizedApps,
    /// See the authorized applications of anyone in the subscription.
    ViewPeoplesApps,
    /// Allow or deny an application on the consent page: only the person, signed in.
    DecideConsent,
    /// See one's second steps of sign-in: only the person, signed in.
    ViewSecondFactors,
    /// Add or remove one's second steps of sign-in, or new recovery codes: only the
    /// person, signed in recently (sudo mode).
    ManageSecondFactors,
    /// Create or reset a full-access API key: signed in recently (sudo mode).
    MintFullAccessKey,
    /// Reset a client's secret: signed in recently (sudo mode).
    ResetClientSecret,
    /// Allow an application (or a device) access that outlives the session — writing
    /// (`api:write`) or refresh tokens (`offline_access`): signed in recently (sudo
    /// mode), as GitHub confirms access before authorizing an app.
    GrantLastingAccess,
}

/// Who may take an action: the conditions [`Principal::require`] checks, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// OAuth tokens may not: they act on the person's data, never on the OAuth
    /// machinery that made them.
    pub not_by_oauth: bool,
    /// Only the subscription's administrators.
    pub admin: bool,
    /// Only a signed-in browser session (never an API key or a token).
    pub session: bool,
    /// Only a session whose person proved themselves recently (sudo mode); implies
    /// `session`.
    pub sudo: bool,
}

impl Action {
    /// The rule of this action. A `match` without a catch-all: a new action does not
    /// compile until it says who may take it.
    pub fn rule(self) -> Rule {
        use Action::*;
        let (not_by_oauth, admin, session, sudo) = match self {
            SignOut | ManageOwnSessions | ConfirmPassword | EditProfile => {
                (false, false, true, false)
            }
            ChangePassword => (false, false, true, true),
            ViewUsers | ViewSubscriptionAudit | ViewSubscriptionApiKeys => {
                (false, true, false, false)
            }
            ManageUsers | ChangeSettings | ResetAnyApiKey => (false, true, true, true),
            ManageOwnApiKeys => (false, false, true, false),
            ViewOAuthClients | ManageOAuthClients | ManageAuthorizedApps => {
                (true, false, false, false)
            }
            IssueClientSecret | RedirectOAuthClient | ResetClientSecret | GrantLastingAccess => {
                (true, false, true, true)
            }
            MarkStandard | DisableOAuthClient => (true, true, true, true),
            ViewPeoplesApps => (true, true, false, false),
            DecideConsent | ViewSecondFactors => (false, false, true, false),
            ManageSecondFactors | MintFullAccessKey => (false, false, true, true),
        };
        Rule {
            not_by_oauth,
            admin,
            session: session || sudo,
            sudo,
        }
    }
}

impl Principal {
    pub fn role(&self) -> Role {
        self.user.role
    }

    /// How the person of this browser session signed in (`pwd`, `pwd otp`); `None`
    /// for keys and tokens.
    pub fn amr(&self) -> Option<&str> {
        match &self.via {
            Via::Session { amr, .. } => Some(amr),
            _ => None,
        }
    }

    /// A session whose person must set up a second step before anything else.
    /// What the session must do before anything else, if anything.
    pub fn hold(&self) -> Option<Hold> {
        match self.via {
            Via::Session {
                password_change_required: true,
                ..
            } => Some(Hold::PasswordChange),
            Via::Session {
                enrolment_required: true,
                ..
            } => Some(Hold::Enrolment),
            _ => None,
        }
    }

    /// The browser session this request came with, if any (OpenID Connect `sid`).
    pub fn session_id(&self) -> Option<&str> {
        match &self.via {
            Via::Session { id, .. } => Some(id),
            _ => None,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role() == Role::Admin
    }

    /// What the credential may do now: sessions act with the user's full rights.
    pub fn permission(&self) -> Permission {
        match &self.via {
            Via::Session { .. } => Permission::FullAccess,
            Via::ApiKey { permission, .. } => *permission,
            Via::OAuth { permission, .. } => permission.unwrap_or(Permission::ReadOnly),
        }
    }

    fn is_session(&self) -> bool {
        matches!(self.via, Via::Session { .. })
    }

    /// The permission table: what the credential kind may never do, then the role,
    /// then the kind of credential, then how recently the person proved themselves
    /// ([`Action::rule`]).
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        let rule = action.rule();
        if rule.not_by_oauth && matches!(self.via, Via::OAuth { .. }) {
            return Err(ApiError::forbidden(
                codes::FORBIDDEN,
                "OAuth tokens cannot manage OAuth clients or authorized applications.",
            ));
        }
        if rule.admin && !self.is_admin() {
            return Err(ApiError::forbidden(
                codes::FORBIDDEN,
                "Only subscription administrators may do this.",
            ));
        }
        if rule.session && !self.is_session() {
            return Err(ApiError::forbidden(
                codes::SESSION_REQUIRED,
                "This needs a signed-in browser session; API keys and OAuth tokens cannot do it.",
            ));
        }
        if rule.sudo && matches!(self.via, Via::Session { sudo: false, .. }) {
            return Err(ApiError::forbidden(
                codes::SUDO_REQUIRED,
                "This needs your password again: confirm it (POST /api/v1/session/sudo) and retry.",
            ));
        }
        Ok(())
    }
}

/// A record of the caller's subscription that the caller owns or administers, found by
/// `find(conn, subscription_id, id)`; anything else — a malformed id, another
/// subscription's record, someone else's record for a non-admin — is 404, so that
/// nobody learns of records they may not see.
pub async fn owned_or_administered<T, F>(
    db: &crate::db::Database,
    principal: &Principal,
    id: &str,
    mut find: F,
    owner: impl Fn(&T) -> &str,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnMut(&mut crate::db::DbConnection, &str, &str) -> crate::db::QueryResult<Option<T>>
        + Send
        + 'static,
{
    crate::routing::id_or_404(id)?;
    let (sub_id, id) = (principal.subscription.id.clone(), id.to_string());
    let row = db
        .read(move |conn| Ok(find(conn, &sub_id, &id)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    if owner(&row) == principal.user.id || principal.is_admin() {
        Ok(row)
    } else {
        Err(ApiError::NotFound)
    }
}

/// Something a signed-in person must do before their session may do anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// They signed in with a temporary password (an administrator generated it).
    PasswordChange,
    /// The subscription requires a second step of them and they have none yet.
    Enrolment,
}

impl Hold {
    /// What a held session may reach: the session itself (who am I, sudo mode, sign
    /// out) and its profile as read; then a new password, or the second steps, each
    /// hold only its own. A temporary password comes first ([`Principal::hold`]): a
    /// session that could add a passkey before replacing it would sign in again with
    /// the passkey, free, and the password the administrator saw would stay.
    pub fn allows(self, method: &actix_web::http::Method, path: &str) -> bool {
        let path = path.trim_end_matches('/');
        let session = path == "/api/v1/session"
            || path.starts_with("/api/v1/session/")
            || (path == "/api/v1/me" && method == actix_web::http::Method::GET);
        session
            || match self {
                Hold::PasswordChange => path == "/api/v1/me/password",
                Hold::Enrolment => {
                    path.starts_with("/api/v1/me/second-factors")
                        || path == "/api/v1/me/recovery-codes"
                }
            }
    }

    pub fn refusal(self) -> ApiError {
        match self {
            Hold::PasswordChange => ApiError::forbidden(
                codes::PASSWORD_CHANGE_REQUIRED,
                "You signed in with a temporary password: choose your own first.",
            ),
            Hold::Enrolment => ApiError::forbidden(
                codes::ENROLMENT_REQUIRED,
                "Your subscription requires two-step sign-in: set up a second step first.",
            ),
        }
    }
}

/// The refusal of a read-only credential's write.
pub fn read_only() -> ApiError {
    ApiError::forbidden(
        codes::INSUFFICIENT_PERMISSION,
        "This credential is read-only; it may only read.",
    )
}

/// Whether `role` is one of `roles`, a subscription setting stored comma-separated
/// (`api_key_full_access_roles`, `oauth_client_roles`).
pub fn role_listed(roles: &str, role: Role) -> bool {
    roles.split(',').any(|r| r.trim() == role.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The permission table, written out whole. One row per action; per role (admin,
    /// editor, viewer) four credentials: a session signed in recently (sudo), a session,
    /// an API key, an OAuth token. `.` allowed; `A` refused: administrators only; `S`
    /// refused: a session only; `U` refused: password again (sudo); `O` refused: not
    /// by an OAuth token. Changing who may do what changes this table.
    const TABLE: &str = "
                             admin  editor viewer
    SignOut                  ..SS   ..SS   ..SS
    ManageOwnSessions        ..SS   ..SS   ..SS
    ConfirmPassword          ..SS   ..SS   ..SS
    EditProfile              ..SS   ..SS   ..SS
    ChangePassword           .USS   .USS   .USS
    ViewUsers                ....   AAAA   AAAA
    ManageUsers              .USS   AAAA   AAAA
    ChangeSettings           .USS   AAAA   AAAA
    ViewSubscriptionAudit    ....   AAAA   AAAA
    ManageOwnApiKeys         ..SS   ..SS   ..SS
    ResetAnyApiKey           .USS   AAAA   AAAA
    ViewSubscriptionApiKeys  ....   AAAA   AAAA
    ViewOAuthClients         ...O   ...O   ...O
    ManageOAuthClients       ...O   ...O   ...O
    IssueClientSecret        .USO   .USO   .USO
    RedirectOAuthClient      .USO   .USO   .USO
    MarkStandard             .USO   AAAO   AAAO
    DisableOAuthClient       .USO   AAAO   AAAO
    ManageAuthorizedApps     ...O   ...O   ...O
    ViewPeoplesApps          ...O   AAAO   AAAO
    DecideConsent            ..SS   ..SS   ..SS
    ViewSecondFactors        ..SS   ..SS   ..SS
    ManageSecondFactors      .USS   .USS   .USS
    MintFullAccessKey        .USS   .USS   .USS
    ResetClientSecret        .USO   .USO   .USO
    GrantLastingAccess       .USO   .USO   .USO
";

    fn principal(role: Role, credential: usize) -> Principal {
        let now = chrono::Utc::now().naive_utc();
        let via = match credential {
            0 | 1 => Via::Session {
                id: "s".into(),
                created_at: now,
                expires_at: now,
                idle_expires_at: now,
                csrf_token: SecretString::new("c"),
                amr: "pwd".into(),
                verified_at: now,
                sudo: credential == 0,
                enrolment_required: false,
                password_change_required: false,
            },
            2 => Via::ApiKey {
                id: "k".into(),
                name: "key".into(),
                key_permission: Permission::FullAccess,
                permission: Permission::FullAccess,
                answer: Arc::default(),
            },
            _ => Via::OAuth {
                grant_id: "g".into(),
                client_id: "c".into(),
                client_name: "app".into(),
                scopes: vec!["api:write".into()],
                permission: Some(Permission::FullAccess),
                client_origins: Vec::new(),
            },
        };
        Principal {
            user: Arc::new(UserRow {
                id: "u".into(),
                subscription_id: "sub".into(),
                username: "someone".into(),
                display_name: "Someone".into(),
                email: None,
                role,
                state: gatehouse_types::UserState::Active,
                password_hash: String::new(),
                failed_sign_ins: 0,
                locked_at: None,
                last_sign_in_at: None,
                created_at: now,
                updated_at: now,
                password_locked_until: None,
                kind: gatehouse_types::UserKind::Person,
                service_client_id: None,
            }),
            subscription: Arc::new(SubscriptionRow {
                id: "sub".into(),
                name: "Default".into(),
                api_keys_enabled: true,
                api_key_max_lifetime_days: None,
                api_key_full_access_roles: "admin,editor,viewer".into(),
                oauth_client_roles: "admin,editor,viewer".into(),
                session_idle_minutes: 60,
                session_max_hours: 8,
                login_lockout_threshold: 5,
                created_at: now,
                updated_at: now,
                two_step_policy: gatehouse_types::TwoStepPolicy::Optional,
                two_step_grace_days: 0,
                two_step_required_since: None,
            }),
            via,
        }
    }

    /// What `require` answers, in the table's letters.
    fn outcome(result: Result<(), ApiError>) -> char {
        let Err(e) = result else { return '.' };
        match (e.code(), e.to_string()) {
            (codes::SESSION_REQUIRED, _) => 'S',
            (codes::SUDO_REQUIRED, _) => 'U',
            (codes::FORBIDDEN, m) if m.contains("administrators") => 'A',
            (codes::FORBIDDEN, m) if m.contains("OAuth tokens") => 'O',
            (code, m) => panic!("unexpected refusal {code}: {m}"),
        }
    }

    /// Every role × every kind of credential × every action, against the table above.
    #[test]
    fn the_permission_table_holds_for_every_role_credential_and_action() {
        let rows: Vec<(&str, Vec<char>)> = TABLE
            .lines()
            .skip(2)
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut words = l.split_whitespace();
                let name = words.next().unwrap();
                (name, words.flat_map(str::chars).collect())
            })
            .collect();
        let names: Vec<String> = Action::ALL.iter().map(|a| format!("{a:?}")).collect();
        let listed: Vec<&str> = rows.iter().map(|(name, _)| *name).collect();
        assert_eq!(listed, names, "the table lists every action, in order");
        let mut wrong = Vec::new();
        for (action, (_, expected)) in Action::ALL.iter().zip(&rows) {
            assert_eq!(expected.len(), 12, "{action:?}: 3 roles × 4 credentials");
            for (r, role) in [Role::Admin, Role::Editor, Role::Viewer]
                .into_iter()
                .enumerate()
            {
                for credential in 0..4 {
                    let got = outcome(principal(role, credential).require(*action));
                    let want = expected[r * 4 + credential];
                    if got != want {
                        wrong.push(format!(
                            "{action:?} as {role:?} with {}: {got}, the table says {want}",
                            ["sudo session", "session", "API key", "OAuth token"][credential]
                        ));
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn a_session_credential_does_not_print_its_csrf_token() {
        let now = chrono::Utc::now().naive_utc();
        let via = Via::Session {
            id: "s1".into(),
            created_at: now,
            expires_at: now,
            idle_expires_at: now,
            csrf_token: SecretString::new("csrf-value-that-must-not-print"),
            amr: "pwd".into(),
            verified_at: now,
            sudo: true,
            enrolment_required: false,
            password_change_required: false,
        };
        let printed = format!("{via:?}");
        assert!(
            !printed.contains("csrf-value-that-must-not-print"),
            "{printed}"
        );
        assert!(printed.contains("redacted"));
    }

    #[test]
    fn a_held_session_reaches_only_what_settles_its_hold() {
        use actix_web::http::Method;
        for hold in [Hold::PasswordChange, Hold::Enrolment] {
            for (method, path) in [
                (Method::GET, "/api/v1/session"),
                (Method::DELETE, "/api/v1/session"),
                (Method::POST, "/api/v1/session/sudo"),
                (Method::GET, "/api/v1/me"),
            ] {
                assert!(hold.allows(&method, path), "{hold:?}: {method} {path}");
            }
            for (method, path) in [
                (Method::PATCH, "/api/v1/me"),
                (Method::GET, "/api/v1/api-keys"),
                (Method::GET, "/api/v1/me/passwordless"),
                (Method::POST, "/api/v1/users"),
                (Method::GET, "/api/v1/sessionx"),
            ] {
                assert!(!hold.allows(&method, path), "{hold:?}: {method} {path}");
            }
        }
        // Each hold reaches only what settles it.
        let password = (Method::PUT, "/api/v1/me/password");
        let passkey = (Method::POST, "/api/v1/me/second-factors/passkey");
        let codes = (Method::POST, "/api/v1/me/recovery-codes");
        assert!(Hold::PasswordChange.allows(&password.0, password.1));
        assert!(!Hold::PasswordChange.allows(&passkey.0, passkey.1));
        assert!(!Hold::PasswordChange.allows(&codes.0, codes.1));
        assert!(Hold::Enrolment.allows(&passkey.0, passkey.1));
        assert!(Hold::Enrolment.allows(&codes.0, codes.1));
        assert!(!Hold::Enrolment.allows(&password.0, password.1));
    }
}
