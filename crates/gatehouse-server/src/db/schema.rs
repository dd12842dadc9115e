//! The diesel schema, written by hand and identical for both backends: text ids,
//! `BIGINT` integers, `BOOLEAN` flags and `TIMESTAMP` columns holding UTC.

diesel::table! {
    subscriptions (id) {
        id -> Text,
        name -> Text,
        api_keys_enabled -> Bool,
        api_key_max_lifetime_days -> Nullable<BigInt>,
        api_key_full_access_roles -> Text,
        oauth_client_roles -> Text,
        session_idle_minutes -> BigInt,
        session_max_hours -> BigInt,
        login_lockout_threshold -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        two_step_policy -> Text,
        two_step_grace_days -> BigInt,
        two_step_required_since -> Nullable<Timestamp>,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        subscription_id -> Text,
        username -> Text,
        display_name -> Text,
        email -> Nullable<Text>,
        role -> Text,
        state -> Text,
        password_hash -> Text,
        failed_sign_ins -> BigInt,
        locked_at -> Nullable<Timestamp>,
        last_sign_in_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        password_locked_until -> Nullable<Timestamp>,
        kind -> Text,
        service_client_id -> Nullable<Text>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        token_hash -> Text,
        user_id -> Text,
        subscription_id -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        amr -> Text,
        verified_at -> Nullable<Timestamp>,
        password_change_required -> Bool,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        subscription_id -> Nullable<Text>,
        actor_id -> Nullable<Text>,
        actor_username -> Nullable<Text>,
        credential_kind -> Nullable<Text>,
        credential_id -> Nullable<Text>,
        action -> Text,
        target_type -> Nullable<Text>,
        target_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        details -> Text,
        created_at -> Timestamp,
        subject_user_id -> Nullable<Text>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        subscription_id -> Text,
        user_id -> Text,
        name -> Text,
        permission -> Text,
        secret_hash -> Text,
        hint -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        last_reset_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    oauth_clients (id) {
        id -> Text,
        subscription_id -> Text,
        owner_id -> Text,
        client_id -> Text,
        name -> Text,
        client_type -> Text,
        secret_hash -> Nullable<Text>,
        secret_hint -> Nullable<Text>,
        redirect_uris -> Text,
        homepage_url -> Nullable<Text>,
        logo_url -> Nullable<Text>,
        standard -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        secret_reset_at -> Nullable<Timestamp>,
        metadata -> Text,
    }
}

diesel::table! {
    oauth_grants (id) {
        id -> Text,
        subscription_id -> Text,
        user_id -> Text,
        client_id -> Text,
        scopes -> Text,
        state -> Text,
        generation -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    oauth_requests (id) {
        id -> Text,
        subscription_id -> Text,
        user_id -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        scopes -> Text,
        state -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        nonce -> Nullable<Text>,
        auth_time -> Timestamp,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        redirect_uri_given -> Bool,
        session_id -> Nullable<Text>,
    }
}

diesel::table! {
    oauth_codes (id) {
        id -> Text,
        code_hash -> Text,
        grant_id -> Text,
        redirect_uri -> Text,
        scopes -> Text,
        code_challenge -> Nullable<Text>,
        nonce -> Nullable<Text>,
        auth_time -> Timestamp,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        generation -> BigInt,
        redirect_uri_given -> Bool,
        session_id -> Nullable<Text>,
        amr -> Nullable<Text>,
    }
}

diesel::table! {
    oauth_refresh_tokens (id) {
        id -> Text,
        token_hash -> Text,
        grant_id -> Text,
        generation -> BigInt,
        scopes -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        session_id -> Nullable<Text>,
        auth_time -> Nullable<Timestamp>,
        amr -> Nullable<Text>,
    }
}

diesel::table! {
    oauth_device_codes (id) {
        id -> Text,
        subscription_id -> Text,
        client_id -> Text,
        device_code_hash -> Text,
        user_code_hash -> Text,
        scopes -> Text,
        status -> Text,
        user_id -> Nullable<Text>,
        session_id -> Nullable<Text>,
        auth_time -> Nullable<Timestamp>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    signing_keys (id) {
        id -> Text,
        algorithm -> Text,
        private_key -> Text,
        public_key -> Text,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    second_factors (id) {
        id -> Text,
        subscription_id -> Text,
        user_id -> Text,
        kind -> Text,
        name -> Text,
        secret -> Text,
        confirmed -> Bool,
        last_step -> Nullable<BigInt>,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        credential_id -> Nullable<Text>,
    }
}

diesel::table! {
    webauthn_ceremonies (id) {
        id -> Text,
        user_id -> Nullable<Text>,
        kind -> Text,
        state -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> Text,
        user_id -> Text,
        code_hash -> Text,
        used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sign_in_steps (id) {
        id -> Text,
        token_hash -> Text,
        user_id -> Text,
        failures -> BigInt,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    second_step_resets (user_id) {
        user_id -> Text,
        reset_at -> Timestamp,
    }
}

diesel::table! {
    temporary_passwords (user_id) {
        user_id -> Text,
        set_at -> Timestamp,
    }
}

diesel::joinable!(users -> subscriptions (subscription_id));
diesel::joinable!(oauth_grants -> oauth_clients (client_id));
diesel::joinable!(oauth_grants -> users (user_id));
diesel::joinable!(oauth_codes -> oauth_grants (grant_id));
diesel::joinable!(oauth_refresh_tokens -> oauth_grants (grant_id));
diesel::joinable!(oauth_requests -> oauth_clients (client_id));
diesel::joinable!(api_keys -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(oauth_device_codes -> oauth_clients (client_id));

diesel::allow_tables_to_appear_in_same_query!(
    subscriptions,
    users,
    sessions,
    audit_events,
    api_keys,
    oauth_clients,
    oauth_grants,
    oauth_requests,
    oauth_codes,
    oauth_refresh_tokens,
    oauth_device_codes,
    signing_keys,
    second_factors,
    recovery_codes,
    sign_in_steps,
    second_step_resets,
    temporary_passwords,
    webauthn_ceremonies
);
