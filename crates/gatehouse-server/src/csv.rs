//! CSV downloads (`Accept: text/csv`): RFC 4180 quoting, CRLF line ends, and values
//! that spreadsheets would run as formulas defused with a leading apostrophe. A
//! download is streamed batch by batch, so its size is not bounded by memory.

use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt, stream};

use crate::error::ApiError;

/// Rows per read of a download.
pub const BATCH: i64 = 1000;

/// One CSV line of `N` fields, CRLF-terminated. Header and rows are arrays of one
/// length `N`, so a column cannot be added to one and not the other.
pub fn line<const N: usize>(fields: &[impl AsRef<str>; N], out: &mut String) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&field(f.as_ref()));
    }
    out.push_str("\r\n");
}

/// Quotes a field when needed; a value starting with `=`, `+`, `-`, `@`, tab or
/// carriage return gets a leading apostrophe so no spreadsheet evaluates it.
pub fn field(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if defused.contains([',', '"', '\n', '\r']) || defused != value {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

/// Whether the client asked for CSV.
pub fn wanted(req: &actix_web::HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"))
}

/// A CSV download of `batches` (each a `Vec` of rows, turned into fields by `row`),
/// streamed: the header line, then each batch as it is read. The first batch is read
/// before answering, so a database that cannot be reached is a JSON error rather than
/// a truncated file; a later failure ends the transfer early (the client sees it
/// incomplete) and is logged.
pub async fn download<const N: usize, T, S>(
    filename: &str,
    header: [&str; N],
    batches: S,
    row: fn(T) -> [String; N],
) -> Result<HttpResponse, ApiError>
where
    T: 'static,
    S: Stream<Item = Result<Vec<T>, ApiError>> + 'static,
{
    let write_rows = move |rows: Vec<T>, out: &mut String| {
        for r in rows {
            line(&row(r), out);
        }
    };
    let mut batches = Box::pin(batches);
    let first = batches.next().await.transpose()?.unwrap_or_default();
    let mut head = String::new();
    line(&header, &mut head);
    write_rows(first, &mut head);
    let rest = batches.map(move |batch| {
        let mut out = String::new();
        batch
            .map(|rows| {
                write_rows(rows, &mut out);
                Bytes::from(out)
            })
            .inspect_err(|e| tracing::warn!(error = %e, "a CSV download ended early"))
    });
    let body = stream::once(async move { Ok::<_, ApiError>(Bytes::from(head)) }).chain(rest);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "\"'=HYPERLINK(1)\"");
        assert_eq!(field("-2"), "\"'-2\"");
        let mut out = String::new();
        line(&["a", "b"], &mut out);
        line(&["1".to_string(), "x,y".to_string()], &mut out);
        assert_eq!(out, "a,b\r\n1,\"x,y\"\r\n");
    }
}
