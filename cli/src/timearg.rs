//! Time and side arguments: `2026-03-14`, `2026-03-14T10:00:00Z`, and `ENV@TIME`.

use anyhow::{Context, Result};
use envtrail_model::{EnvName, Timestamp, parse_time};

/// Parses an optional time argument; `None` is now.
pub fn time_or_now(arg: Option<&str>, flag: &str) -> Result<Timestamp> {
    match arg {
        None => Ok(chrono::Utc::now()),
        Some(text) => parse_time(text).with_context(|| format!("argument {flag}")),
    }
}

/// Parses an environment name argument.
pub fn env_name(arg: &str) -> Result<EnvName> {
    arg.parse().with_context(|| format!("argument {arg:?}"))
}

/// Parses `ENV` or `ENV@TIME`; a side without a time takes `default`.
pub fn side(arg: &str, default: Timestamp) -> Result<(EnvName, Timestamp)> {
    match arg.split_once('@') {
        None => Ok((env_name(arg)?, default)),
        Some((env, time)) => {
            let at = parse_time(time).with_context(|| format!("argument {arg:?}"))?;
            Ok((env_name(env)?, at))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_with_and_without_time() {
        let now = parse_time("2026-11-25").unwrap();
        let (env, at) = side("prod", now).unwrap();
        assert_eq!((env.as_str(), at), ("prod", now));
        let (env, at) = side("prod@2026-03-01", now).unwrap();
        assert_eq!(env.as_str(), "prod");
        assert_eq!(at, parse_time("2026-03-01T00:00:00Z").unwrap());
        let err = side("prod@yesterday", now).unwrap_err();
        assert!(format!("{err:#}").contains("prod@yesterday"));
    }
}
