//! What the AWS APIs said, reduced to the fields the collector uses. The API layer fills these
//! from SDK responses; tests fill them from recorded real responses (ECS speaks camelCase JSON,
//! Lambda PascalCase), so the assembly is tested against shapes AWS really returns, including
//! the `imageDigest` of running ECS tasks that no emulator reports.

use std::collections::BTreeMap;

use serde::Deserialize;

/// An ECS service (`DescribeServices`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsService {
    /// Its name.
    pub service_name: String,
    /// The task definition ARN it deploys.
    #[serde(default)]
    pub task_definition: String,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<EcsTag>,
    /// Its deployments (more than one while a rollout runs).
    #[serde(default)]
    pub deployments: Vec<EcsDeployment>,
    /// Tasks wanted.
    #[serde(default)]
    pub desired_count: i32,
    /// Tasks running.
    #[serde(default)]
    pub running_count: i32,
}

/// An ECS tag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct EcsTag {
    /// The key.
    pub key: Option<String>,
    /// The value.
    pub value: Option<String>,
}

/// One deployment of a service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsDeployment {
    /// `PRIMARY`, `ACTIVE` or `INACTIVE`.
    pub status: Option<String>,
    /// The task definition it deploys.
    pub task_definition: Option<String>,
    /// Its running tasks.
    #[serde(default)]
    pub running_count: i32,
}

/// A task definition (`DescribeTaskDefinition`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsTaskDefinition {
    /// Its ARN.
    pub task_definition_arn: String,
    /// Its containers.
    #[serde(default)]
    pub container_definitions: Vec<EcsContainerDefinition>,
}

/// One container of a task definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsContainerDefinition {
    /// Its name.
    pub name: String,
    /// The image as declared.
    #[serde(default)]
    pub image: String,
    /// Literal environment variables.
    #[serde(default)]
    pub environment: Vec<EcsKeyValue>,
    /// Secrets: references to SSM parameters or Secrets Manager secrets, never resolved here.
    #[serde(default)]
    pub secrets: Vec<EcsSecret>,
}

/// A literal environment variable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct EcsKeyValue {
    /// The name.
    pub name: Option<String>,
    /// The value.
    pub value: Option<String>,
}

/// A secret reference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsSecret {
    /// The variable name.
    pub name: String,
    /// The ARN or name of the SSM parameter or Secrets Manager secret.
    pub value_from: String,
}

/// A task (`DescribeTasks`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsTask {
    /// The task definition it runs.
    #[serde(default)]
    pub task_definition_arn: String,
    /// `RUNNING`, `PENDING`, `STOPPED`...
    pub last_status: Option<String>,
    /// Its containers.
    #[serde(default)]
    pub containers: Vec<EcsTaskContainer>,
}

/// A container of a running task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsTaskContainer {
    /// Its name (as in the task definition).
    #[serde(default)]
    pub name: String,
    /// The image (absent in older responses).
    pub image: Option<String>,
    /// The digest the container runs, where AWS reports it.
    pub image_digest: Option<String>,
}

/// A Lambda function or one of its versions (`GetFunction`: `Configuration`, `Code`, `Tags`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LambdaFunction {
    /// The function name.
    pub name: String,
    /// The version (`$LATEST` or a number).
    pub version: String,
    /// `Zip` or `Image`.
    pub package_type: Option<String>,
    /// The runtime (Zip functions).
    pub runtime: Option<String>,
    /// `CodeSha256`: base64 of the zip's sha256, or the image digest in hex.
    pub code_sha256: Option<String>,
    /// `Code.ImageUri` (Image functions).
    pub image_uri: Option<String>,
    /// `Code.ResolvedImageUri`: the image by digest, what runs.
    pub resolved_image_uri: Option<String>,
    /// Environment variables. Values are secrets until the allow-list says otherwise.
    pub environment: BTreeMap<String, String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// A Lambda alias and the version it points to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LambdaAlias {
    /// The alias name.
    pub name: String,
    /// The version it points to, read with `GetFunction` on that version.
    pub function: LambdaFunction,
}

/// The kind of a Parameter Store parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterKind {
    /// `String`.
    String,
    /// `StringList`.
    StringList,
    /// `SecureString`: never stored.
    SecureString,
}

/// One Parameter Store parameter (`GetParametersByPath`).
#[derive(Clone, PartialEq, Eq)]
pub struct Parameter {
    /// Its full name.
    pub name: String,
    /// Its kind.
    pub kind: ParameterKind,
    /// Its value: plain for String/StringList, decrypted SecureString (fingerprinted, dropped)
    /// or `None` when not decrypted.
    pub value: Option<String>,
    /// Its version.
    pub version: i64,
    /// When it last changed (RFC 3339), if known.
    pub last_modified: Option<String>,
}

impl std::fmt::Debug for Parameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a value: it may be a decrypted SecureString.
        f.debug_struct("Parameter")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}
