//! The one rule for the `users.email` column that a password reset looks addresses up by
//! (the server's `store::users` keeps the column with it; the migration that filled the
//! column for stored users needs the same rule).

/// An `email` claim as the column keeps it: trimmed, lower case; `None` when nothing is left.
pub fn normalized(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    (!email.is_empty()).then_some(email)
}

/// The column's value for a user's claims (a JSON object as text): `None` without a string
/// `email`, or when the text is not JSON.
pub fn of_claims(claims: &str) -> Option<String> {
    let claims: serde_json::Value = serde_json::from_str(claims).ok()?;
    normalized(claims.get("email")?.as_str()?)
}

#[cfg(test)]
mod tests {
    use super::{normalized, of_claims};

    #[test]
    fn addresses_compare_without_case_or_spaces() {
        assert_eq!(
            normalized(" Ada@Example.COM "),
            Some("ada@example.com".into())
        );
        assert_eq!(
            normalized("ÉLODIE@EXAMPLE.FR"),
            Some("élodie@example.fr".into())
        );
        assert_eq!(normalized("  "), None);
        assert_eq!(of_claims(r#"{"email":"A@B.C"}"#), Some("a@b.c".into()));
        assert_eq!(of_claims(r#"{"email":7}"#), None);
        assert_eq!(of_claims("not json"), None);
    }
}
