//! The authentication context: how the person signed in (`amr`, RFC 8176) and the level
//! that reached (`acr`, OIDC Core 2). Two levels: a password alone, and two factors (a
//! password and a one-time code, recovery code or passkey, or a passkey alone, which
//! verified its user).
//! What a sign-in proved is kept beside its `auth_time`, on the session and on each code
//! and grant made from it, as the methods space-separated; none recorded reads as a
//! password.

use serde::{Deserialize, Serialize};

/// The class of a sign-in with one factor (a password).
pub const ACR_PASSWORD: &str = "urn:oidcd:acr:password";
/// The class of a sign-in with two factors.
pub const ACR_MFA: &str = "urn:oidcd:acr:mfa";
/// `acr_values_supported`, lowest first.
pub const ACR_VALUES: [&str; 2] = [ACR_PASSWORD, ACR_MFA];

/// How strongly the person is known to be who they say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Password,
    Mfa,
}

impl Level {
    pub fn acr(self) -> &'static str {
        match self {
            Self::Password => ACR_PASSWORD,
            Self::Mfa => ACR_MFA,
        }
    }

    /// The level an `acr` value names, if it is one of ours.
    pub fn from_acr(acr: &str) -> Option<Self> {
        match acr {
            ACR_PASSWORD => Some(Self::Password),
            ACR_MFA => Some(Self::Mfa),
            _ => None,
        }
    }
}

/// A second factor, as `amr` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// A one-time code from an authenticator app, or a recovery code.
    Otp,
    /// A passkey that cannot leave its device (a security key, a platform authenticator
    /// that does not sync), which verified its user: `hwk` and `user`.
    HardwareKey,
    /// A passkey that may be copied to other devices (synced by a password manager or a
    /// platform account), which verified its user: `swk` and `user`.
    SoftwareKey,
}

impl Method {
    fn names(self) -> &'static [&'static str] {
        match self {
            Self::Otp => &["otp"],
            Self::HardwareKey => &["hwk", "user"],
            Self::SoftwareKey => &["swk", "user"],
        }
    }
}

/// The methods one sign-in used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Amr(Vec<String>);

impl Amr {
    /// A password alone.
    pub fn password() -> Self {
        Self(vec!["pwd".to_owned()])
    }

    /// A passkey alone: the key and the verification its authenticator did (a PIN or a
    /// biometric) are two factors.
    pub fn passkey(method: Method) -> Self {
        Self(Vec::new()).with(method)
    }

    /// As stored; none (a row from before methods were recorded) is a password.
    pub fn from_stored(stored: Option<&str>) -> Self {
        match stored {
            Some(text) if !text.trim().is_empty() => {
                Self(text.split_whitespace().map(str::to_owned).collect())
            }
            _ => Self::password(),
        }
    }

    pub fn to_stored(&self) -> String {
        self.0.join(" ")
    }

    pub fn methods(&self) -> &[String] {
        &self.0
    }

    /// These methods and a second factor: `mfa` is added (RFC 8176: more than one factor).
    pub fn with(&self, method: Method) -> Self {
        let mut methods = self.0.clone();
        for name in method.names().iter().chain(&["mfa"]) {
            if !methods.iter().any(|m| m == name) {
                methods.push((*name).to_owned());
            }
        }
        Self(methods)
    }

    pub fn level(&self) -> Level {
        if self.0.iter().any(|m| m == "mfa") {
            Level::Mfa
        } else {
            Level::Password
        }
    }
}

/// The level `acr_values` asks for: the lowest of ours it names (the client accepts any of
/// them), or none when it names none of ours.
pub fn wished(acr_values: &[String]) -> Option<Level> {
    acr_values.iter().filter_map(|v| Level::from_acr(v)).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_factor_makes_two() {
        let amr = Amr::password();
        assert_eq!(amr.level(), Level::Password);
        let both = amr.with(Method::Otp);
        assert_eq!(both.methods(), ["pwd", "otp", "mfa"]);
        assert_eq!(both.level(), Level::Mfa);
        assert_eq!(both.with(Method::Otp), both);
        assert_eq!(Amr::from_stored(Some(&both.to_stored())), both);
        assert_eq!(Amr::from_stored(None), Amr::password());
        assert_eq!(Amr::from_stored(Some(" ")), Amr::password());
        let passkey = Amr::passkey(Method::HardwareKey);
        assert_eq!(passkey.methods(), ["hwk", "user", "mfa"]);
        assert_eq!(passkey.level(), Level::Mfa);
        assert_eq!(
            amr.with(Method::SoftwareKey).methods(),
            ["pwd", "swk", "user", "mfa"]
        );
    }

    #[test]
    fn acr_values_name_the_lowest_level_they_accept() {
        let v = |list: &[&str]| wished(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(v(&[ACR_MFA]), Some(Level::Mfa));
        assert_eq!(v(&[ACR_MFA, ACR_PASSWORD]), Some(Level::Password));
        assert_eq!(v(&["urn:example:other", ACR_MFA]), Some(Level::Mfa));
        assert_eq!(v(&["urn:example:other"]), None);
        assert_eq!(v(&[]), None);
    }
}
