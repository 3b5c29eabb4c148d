//! Terraform state objects in S3: `s3://bucket/key` read with the same credentials, profile,
//! role and endpoint as the account's collectors. The bytes go to `envtrail-collect-terraform`
//! (through the CLI); this crate does not parse them.

use aws_config::SdkConfig;

use crate::config::{AccountConfig, CollectOptions};
use crate::error::{Error, call};

/// `s3://bucket/key` → (bucket, key).
pub fn parse_s3_url(url: &str) -> Result<(&str, &str), Error> {
    let bad = || Error::S3Url {
        url: url.to_owned(),
    };
    let rest = url.strip_prefix("s3://").ok_or_else(bad)?;
    let (bucket, key) = rest.split_once('/').ok_or_else(bad)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(bad());
    }
    Ok((bucket, key))
}

/// Reads the object at `url` with `account`'s credentials in `region`.
pub async fn fetch_object(
    account: &AccountConfig,
    region: &str,
    url: &str,
    options: &CollectOptions,
) -> Result<Vec<u8>, Error> {
    let config = crate::collect::sdk_config(account, region, options).await;
    fetch_with(&config, account.endpoint_url.is_some(), url).await
}

async fn fetch_with(config: &SdkConfig, path_style: bool, url: &str) -> Result<Vec<u8>, Error> {
    let (bucket, key) = parse_s3_url(url)?;
    // Emulators answer on one host: path-style addressing (`host/bucket/key`).
    let s3 = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .build();
    let client = aws_sdk_s3::Client::from_conf(s3);
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| call(format!("s3: reading {url}"), &e))?;
    let body = out
        .body
        .collect()
        .await
        .map_err(|e| call(format!("s3: reading the body of {url}"), &e))?;
    Ok(body.into_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_split_into_bucket_and_key() {
        assert_eq!(
            parse_s3_url("s3://states/prod/network.tfstate").unwrap(),
            ("states", "prod/network.tfstate")
        );
        for bad in ["states/x", "s3://states", "s3:///x", "s3://b/"] {
            let err = parse_s3_url(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
