//! The OpenAPI schemas of fields whose rule is more than their Rust type: each states
//! the rule of [`crate::validate`] it stands for (as a pattern, a length, a count), so
//! that the published contract refuses what the server refuses. Fields name them with
//! `#[schema(schema_with = …)]`; only the `openapi` feature compiles this module.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{KnownFormat, Schema};

/// No control characters, and at least one character that is not white space:
/// [`crate::validate::display_name`] (and the key, client and subscription names that
/// follow it).
const NAME_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";
const NAME_RULE: &str = "1 to 100 characters as sent, at least one not white space, no \
                         control characters; trimmed.";

/// One `@`, a dotted domain that neither starts nor ends with a dot, no white space or
/// control characters inside, at most 254 characters: [`crate::validate::email`].
const EMAIL_PATTERN: &str = r"^\s*[^@\s\x00-\x1f\x7f-\x9f]+@[^@.\s\x00-\x1f\x7f-\x9f][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s\x00-\x1f\x7f-\x9f]*[^@.\s\x00-\x1f\x7f-\x9f]\s*$";
const EMAIL_RULE: &str =
    "An e-mail address: one `@`, a dotted domain, no white space inside; trimmed.";

fn string(nullable: bool) -> ObjectBuilder {
    if nullable {
        ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
    } else {
        ObjectBuilder::new().schema_type(Type::String)
    }
}

fn name_schema(nullable: bool) -> Schema {
    string(nullable)
        .max_length(Some(100))
        .pattern(Some(NAME_PATTERN))
        .description(Some(NAME_RULE))
        .into()
}

/// A display name, or the name of a key, a client or a subscription.
pub fn name() -> Schema {
    name_schema(false)
}

/// [`name`], or `null` where `null` leaves it unchanged.
pub fn name_or_null() -> Schema {
    name_schema(true)
}

fn email_schema(nullable: bool) -> Schema {
    string(nullable)
        .max_length(Some(254))
        .pattern(Some(EMAIL_PATTERN))
        .description(Some(EMAIL_RULE))
        .into()
}

pub fn email() -> Schema {
    email_schema(false)
}

/// [`email`], or `null`, which removes the address.
pub fn email_or_null() -> Schema {
    email_schema(true)
}

/// [`crate::validate::username`].
pub fn username() -> Schema {
    string(false)
        .pattern(Some(r"^\s*[A-Za-z0-9._@+-]{3,254}\s*$"))
        .description(Some(
            "3 to 254 of letters, digits and `. _ - @ +`; case-insensitive, trimmed.",
        ))
        .into()
}

fn new_password_schema(nullable: bool) -> Schema {
    string(nullable)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
        .min_length(Some(crate::validate::PASSWORD_MIN_CHARS))
        .description(Some("At least 12 characters, at most 1024 bytes."))
        .into()
}

/// A new password: [`crate::validate::password`] (length is the whole rule).
pub fn new_password() -> Schema {
    new_password_schema(false)
}

/// [`new_password`], or `null`: the server generates one.
pub fn new_password_or_null() -> Schema {
    new_password_schema(true)
}

fn redirect_uris_schema(nullable: bool) -> Schema {
    let item = string(false)
        .min_length(Some(1))
        .max_length(Some(2000))
        .description(Some(
            "https, http on loopback only, or a reverse-domain private scheme.",
        ));
    let list = ArrayBuilder::new()
        .items(item)
        .min_items(Some(1))
        .max_items(Some(10));
    if nullable {
        list.schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
            .into()
    } else {
        list.into()
    }
}

/// The callback URLs of a client: [`crate::validate::redirect_uri`], one to ten.
pub fn redirect_uris() -> Schema {
    redirect_uris_schema(false)
}

/// [`redirect_uris`], or `null`, which leaves them unchanged.
pub fn redirect_uris_or_null() -> Schema {
    redirect_uris_schema(true)
}

/// A client's grant types: RFC 7591 names this server offers ([`crate::validate::GRANT_TYPES`]).
pub fn grant_types() -> Schema {
    let item = ObjectBuilder::new()
        .schema_type(SchemaType::from(Type::String))
        .enum_values(Some(crate::validate::GRANT_TYPES));
    ArrayBuilder::new()
        .items(item)
        .min_items(Some(1))
        .max_items(Some(4))
        .into()
}

/// Where a client may send people after signing out: URLs as callback URLs are, up to ten.
pub fn uri_list() -> Schema {
    let item = string(false).min_length(Some(1)).max_length(Some(2000));
    ArrayBuilder::new().items(item).max_items(Some(10)).into()
}

fn origins_schema(nullable: bool) -> Schema {
    let item = string(false)
        .min_length(Some(1))
        .max_length(Some(300))
        .description(Some(
            "An origin, scheme://host[:port]: https, or http on loopback only.",
        ));
    let list = ArrayBuilder::new().items(item).max_items(Some(20));
    if nullable {
        list.schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
            .into()
    } else {
        list.into()
    }
}

/// Browser origins ([`crate::validate::origin`]), up to twenty.
pub fn origins() -> Schema {
    origins_schema(false)
}

/// [`origins`], or `null`: back to the origins of the callback URLs.
pub fn origins_or_null() -> Schema {
    origins_schema(true)
}
