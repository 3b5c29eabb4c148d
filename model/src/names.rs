//! Newtypes for the identifiers that appear everywhere: content digests, config fingerprints,
//! environment and component names. Each validates once, at the edge (`FromStr` and serde), so the
//! rest of the code can trust it.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// Why a name, digest or fingerprint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A digest that is not `<algorithm>:<lowercase hex>` with a known algorithm and length.
    #[error(
        "invalid digest {0:?}: expected sha256:<64 lowercase hex> or sha512:<128 lowercase hex>"
    )]
    Digest(String),
    /// A fingerprint that is not `sha256:<64 hex>` or `hmac-sha256:<64 hex>`.
    #[error("invalid fingerprint {0:?}: expected sha256:<64 hex> or hmac-sha256:<64 hex>")]
    Fingerprint(String),
    /// An empty name, or one with characters that cannot appear in an environment or component name.
    #[error("invalid {what} {value:?}: {why}")]
    Name {
        /// "environment" or "component".
        what: &'static str,
        /// The refused input.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident, $parse:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The text form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                let check: fn(&str) -> Result<(), NameError> = $parse;
                check(s)?;
                Ok(Self(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                let check: fn(&str) -> Result<(), NameError> = $parse;
                check(&s)?;
                Ok(Self(s))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::try_from(s).map_err(serde::de::Error::custom)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// A content digest such as `sha256:<64 hex>`: the identity of an artifact (an image manifest,
    /// an image index, a Lambda zip).
    Digest,
    |s| {
        let ok = match s.split_once(':') {
            Some(("sha256", hex)) => hex.len() == 64 && is_lower_hex(hex),
            Some(("sha512", hex)) => hex.len() == 128 && is_lower_hex(hex),
            _ => false,
        };
        if ok { Ok(()) } else { Err(NameError::Digest(s.to_owned())) }
    }
);

impl Digest {
    /// The hex part, without the algorithm.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map(|(_, h)| h).unwrap_or(&self.0)
    }

    /// The first 12 hex digits, for humans.
    pub fn short(&self) -> String {
        let hex = self.hex();
        hex[..hex.len().min(12)].to_owned()
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        use sha2::{Digest as _, Sha256};
        Self(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }
}

string_newtype!(
    /// A config value's fingerprint: `sha256:<hex>` of a plain value, or `hmac-sha256:<hex>` keyed
    /// with the operator's secret key for secrets (so that a stolen store does not allow guessing).
    Fingerprint,
    |s| {
        let ok = match s.split_once(':') {
            Some(("sha256" | "hmac-sha256", hex)) => hex.len() == 64 && is_lower_hex(hex),
            _ => false,
        };
        if ok { Ok(()) } else { Err(NameError::Fingerprint(s.to_owned())) }
    }
);

impl Fingerprint {
    /// The plain `sha256:` fingerprint of a non-secret value.
    pub fn of_plain_value(value: &str) -> Self {
        use sha2::{Digest as _, Sha256};
        Self(format!(
            "sha256:{}",
            hex::encode(Sha256::digest(value.as_bytes()))
        ))
    }

    /// Whether this fingerprint is keyed (a secret's).
    pub fn is_keyed(&self) -> bool {
        self.0.starts_with("hmac-")
    }

    /// The first 12 hex digits, for humans.
    pub fn short(&self) -> String {
        let hex = self.0.split_once(':').map(|(_, h)| h).unwrap_or(&self.0);
        hex[..hex.len().min(12)].to_owned()
    }
}

fn check_name(what: &'static str, s: &str) -> Result<(), NameError> {
    let err = |why| NameError::Name {
        what,
        value: s.to_owned(),
        why,
    };
    if s.is_empty() {
        return Err(err("must not be empty"));
    }
    if s.len() > 253 {
        return Err(err("must be at most 253 characters"));
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(err("must not contain white space or control characters"));
    }
    Ok(())
}

string_newtype!(
    /// An environment name (`dev`, `staging`, `prod`): no white space, not empty, and no `@`
    /// (which separates an environment from a time on the command line, `prod@2026-03-01`) nor `,`
    /// (which separates the environments of a promotion path).
    EnvName,
    |s| {
        check_name("environment", s)?;
        if s.contains('@') || s.contains(',') {
            return Err(NameError::Name {
                what: "environment",
                value: s.to_owned(),
                why: "must not contain '@' or ','",
            });
        }
        Ok(())
    }
);

string_newtype!(
    /// The logical service name, the same in every environment: how the diff matches things across
    /// environments.
    ComponentName,
    |s| check_name("component", s)
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_accepts_sha256_and_refuses_malformed() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert_eq!(good.parse::<Digest>().unwrap().as_str(), good);
        for bad in [
            "sha256:abc".to_owned(),
            format!("sha256:{}", "A".repeat(64)),
            format!("md5:{}", "a".repeat(64)),
            "a".repeat(64),
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn digest_deserialize_names_the_bad_value() {
        let err = serde_json::from_str::<Digest>("\"sha256:xyz\"").unwrap_err();
        assert!(err.to_string().contains("sha256:xyz"), "{err}");
    }

    #[test]
    fn fingerprints_plain_and_keyed() {
        let plain = Fingerprint::of_plain_value("info");
        assert!(!plain.is_keyed());
        let keyed: Fingerprint = format!("hmac-sha256:{}", "0".repeat(64)).parse().unwrap();
        assert!(keyed.is_keyed());
        assert!("sha1:abcd".parse::<Fingerprint>().is_err());
    }

    #[test]
    fn env_names_refuse_separators() {
        assert!("prod".parse::<EnvName>().is_ok());
        assert!("prod@x".parse::<EnvName>().is_err());
        assert!("a,b".parse::<EnvName>().is_err());
        assert!("".parse::<EnvName>().is_err());
        assert!("pay ments".parse::<ComponentName>().is_err());
    }
}
