//! How to reach S3 (the job's `s3`).

use serde::{Deserialize, Serialize};

/// S3 access settings. Credentials and region come from the default chain
/// (environment, `AWS_PROFILE`, SSO, instance or Lambda role); never from the job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// Another S3 endpoint (MinIO, a local test server). `AWS_ENDPOINT_URL`
    /// works too; the CLI's `--endpoint-url` wins over both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most non-AWS servers need.
    #[serde(default)]
    pub path_style: bool,
    /// Region, when not taken from the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Account id every bucket must belong to (`ExpectedBucketOwner` on every call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_bucket_owner: Option<String>,
    /// Server-side encryption of every object written: `AES256` (SSE-S3) or `aws:kms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<Sse>,
    /// KMS key id or ARN for `"sse": "aws:kms"` (default: the account's S3 key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
}

/// Server-side encryption modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Sse {
    /// SSE-S3.
    #[serde(rename = "AES256")]
    Aes256,
    /// SSE-KMS.
    #[serde(rename = "aws:kms")]
    Kms,
}
