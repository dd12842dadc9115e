//! Every action the audit log records, with the words people read for it. The server
//! records only these (a debug assertion in its `Audit` says so in every test), and the
//! web app's filter and labels come from the same list.

macro_rules! actions {
    ($($variant:ident = $name:literal, $label:literal;)*) => {
        /// An action of the audit log (`AuditEvent::action`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum AuditAction {
            $($variant),*
        }

        impl AuditAction {
            /// Every action, in the order the audit log's filter offers them.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant),*];

            /// The name stored and sent (`api_key.created`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $name),*
                }
            }

            /// What happened, for people ("API key created").
            pub fn label(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $label),*
                }
            }
        }
    };
}

actions! {
    SignedIn = "session.signed_in", "Signed in";
    SignInFailed = "session.sign_in_failed", "Sign-in failed";
    SignedOut = "session.signed_out", "Signed out";
    SecondStepRequired = "session.second_step_required", "Second step asked for";
    SecondStepFailed = "session.second_step_failed", "Second step failed";
    Sudo = "session.sudo", "Password confirmed again";
    SudoChallenged = "session.sudo_challenged", "Passkey confirmation started";
    UserCreated = "user.created", "User added";
    UserUpdated = "user.updated", "User changed";
    UserDeleted = "user.deleted", "User deleted";
    UserLocked = "user.locked", "User locked";
    UserUnlocked = "user.unlocked", "User unlocked";
    ProfileUpdated = "user.profile_updated", "Profile changed";
    PasswordChanged = "user.password_changed", "Password changed";
    PasswordChangeFailed = "user.password_change_failed", "Password change failed";
    PasswordReset = "user.password_reset", "Password reset by an admin";
    SecondFactorStarted = "second_factor.started", "Second step setup started";
    SecondFactorAdded = "second_factor.added", "Second step added";
    SecondFactorRemoved = "second_factor.removed", "Second step removed";
    SecondFactorUsed = "second_factor.used", "Second step used";
    RecoveryCodeUsed = "recovery_code.used", "Recovery code used";
    SecondFactorsReset = "second_factors.reset", "Second steps reset by an admin";
    RecoveryCodesGenerated = "recovery_codes.generated", "Recovery codes made";
    SubscriptionCreated = "subscription.created", "Subscription created";
    SubscriptionUpdated = "subscription.updated", "Settings changed";
    ApiKeyCreated = "api_key.created", "API key created";
    ApiKeyRenamed = "api_key.renamed", "API key renamed";
    ApiKeyReset = "api_key.reset", "API key reset";
    ApiKeyDeleted = "api_key.deleted", "API key deleted";
    ClientCreated = "oauth_client.created", "OAuth client registered";
    ClientUpdated = "oauth_client.updated", "OAuth client changed";
    ClientStandardRemoved = "oauth_client.standard_removed", "OAuth client no longer standard";
    ClientSecretReset = "oauth_client.secret_reset", "OAuth client secret reset";
    ClientDisabled = "oauth_client.disabled", "OAuth client disabled";
    ClientEnabled = "oauth_client.enabled", "OAuth client enabled again";
    ClientDeleted = "oauth_client.deleted", "OAuth client deleted";
    GrantAuthorized = "oauth_grant.authorized", "App allowed";
    GrantReEnabled = "oauth_grant.re_enabled", "App allowed again";
    GrantExtended = "oauth_grant.extended", "App given more access";
    GrantRevoked = "oauth_grant.revoked", "App revoked";
    RequestDenied = "oauth_request.denied", "App denied";
    DeviceAllowed = "oauth_device.allowed", "Device allowed";
    DeviceDenied = "oauth_device.denied", "Device denied";
    CodeReused = "oauth_code.reused", "Authorization code used twice (stopped)";
    RefreshTokenReused = "oauth_refresh_token.reused", "Refresh token used twice (stopped)";
    LogoutDelivered = "oauth_logout.delivered", "Sign-out sent to an app";
    LogoutFailed = "oauth_logout.failed", "Sign-out to an app failed";
}

impl AuditAction {
    pub fn parse(name: &str) -> Option<AuditAction> {
        AuditAction::ALL
            .iter()
            .copied()
            .find(|a| a.as_str() == name)
    }

    /// The label of a recorded action; an unknown one (from a newer server) as sent.
    pub fn label_of(name: &str) -> &str {
        match AuditAction::parse(name) {
            Some(a) => a.label(),
            None => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(*a));
        }
        let mut names: Vec<_> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), AuditAction::ALL.len());
        assert_eq!(AuditAction::label_of("something.new"), "something.new");
    }
}
