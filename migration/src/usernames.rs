//! The one rule for usernames, used for uniqueness, lookup and counting alike (the server's
//! `oidc::accounts` re-exports it; the migration that brought stored names under it needs
//! the same rule).

use unicode_normalization::UnicodeNormalization as _;

/// A username as oidcd stores and compares it: compatibility forms folded (full-width
/// letters, ligatures: NFKC), then lower-cased, then composed (NFC). `Alice`, `ALICE` and
/// `ａｌｉｃｅ` are one account. The same shape as RFC 8265's UsernameCaseMapped profile.
pub fn canonical(username: &str) -> String {
    username
        .nfkc()
        .collect::<String>()
        .to_lowercase()
        .nfc()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn one_account_whatever_the_case_or_width() {
        for (typed, stored) in [
            ("alice", "alice"),
            ("ALICE", "alice"),
            ("Alice", "alice"),
            ("ａｌｉｃｅ", "alice"),
            ("Åsa", "åsa"),
            ("A\u{30a}sa", "åsa"),
            ("ÅSA", "åsa"),
            ("ﬁona", "fiona"),
            ("Σοφία", "σοφία"),
            ("bob.smith@example.com", "bob.smith@example.com"),
        ] {
            assert_eq!(canonical(typed), stored, "{typed}");
        }
    }
}
