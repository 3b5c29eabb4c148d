//! The collector's errors. A source that cannot be read is not an error of the run: it becomes a
//! `failed` or `partial` source in the snapshot, with one of these messages as its reason.
//! Messages carry the AWS error code and message, never a parameter value nor an environment
//! variable's value.

/// Why a source (or a part of it) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed after its retries.
    #[error("{what}: {message}")]
    Call {
        /// What was being read, e.g. `ecs: listing services of cluster shop`.
        what: String,
        /// The SDK's description (error code and message, or the transport failure).
        message: String,
    },
    /// An `s3://` URL that is not `s3://bucket/key`.
    #[error("{url}: not an s3://bucket/key URL")]
    S3Url {
        /// The URL.
        url: String,
    },
}

/// The SDK's description of an error: the whole chain on one line.
pub(crate) fn describe<E: std::error::Error>(err: &E) -> String {
    aws_sdk_sts::error::DisplayErrorContext(err).to_string()
}

/// An [`Error::Call`] about `what`.
pub(crate) fn call<E: std::error::Error>(what: impl Into<String>, err: &E) -> Error {
    Error::Call {
        what: what.into(),
        message: describe(err),
    }
}
