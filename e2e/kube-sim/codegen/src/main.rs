//! Writes `e2e/kube-sim/src/protobuf/generated.rs`: for every message type a built-in kind kube-sim serves can
//! contain, a conversion from k8s-pb's prost struct to the JSON kube-apiserver would store, and the field tags the
//! type knows (so a body with fields newer than k8s-pb is refused rather than silently cut).
//!
//! Three sources, each for what only it knows:
//! - k8s-pb's generated structs: fields, protobuf kinds and tags, nesting (read with `syn`);
//! - k8s-openapi's generated deserializers: each field's JSON name (`"hostIP" => Field::Key_host_ip`), which the
//!   protobuf names lose (prost's `host_ip`);
//! - `go_fields.txt` (beside the output): whether each scalar field is a Go pointer and whether it is `omitempty`,
//!   which decides what a zero value means (Go writes non-pointer fields even when zero).
//!
//! `cargo run -p kube-sim-codegen` rewrites the file; `-- --check` fails when it is out of date (`make
//! verify-generated`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The k8s-openapi module whose JSON names are used: the Kubernetes release k8s-pb 0.9 was generated from.
const OPENAPI_RELEASE: &str = "v1_35";

/// Kinds a client may send as protobuf to kube-sim: `(module path in k8s-pb, kind, apiVersion)`.
const ROOTS: &[(&str, &str, &str)] = &[
    ("api::core::v1", "Namespace", "v1"),
    ("api::core::v1", "Pod", "v1"),
    ("api::core::v1", "Service", "v1"),
    ("api::core::v1", "Endpoints", "v1"),
    ("api::core::v1", "ConfigMap", "v1"),
    ("api::core::v1", "Secret", "v1"),
    ("api::core::v1", "ServiceAccount", "v1"),
    ("api::core::v1", "Event", "v1"),
    ("api::core::v1", "PodTemplate", "v1"),
    ("api::events::v1", "Event", "events.k8s.io/v1"),
    ("api::apps::v1", "ReplicaSet", "apps/v1"),
    ("api::apps::v1", "Deployment", "apps/v1"),
    ("api::batch::v1", "Job", "batch/v1"),
    ("api::rbac::v1", "ClusterRole", "rbac.authorization.k8s.io/v1"),
    ("api::rbac::v1", "ClusterRoleBinding", "rbac.authorization.k8s.io/v1"),
    ("api::rbac::v1", "Role", "rbac.authorization.k8s.io/v1"),
    ("api::rbac::v1", "RoleBinding", "rbac.authorization.k8s.io/v1"),
    ("api::coordination::v1", "Lease", "coordination.k8s.io/v1"),
    ("api::policy::v1", "PodDisruptionBudget", "policy/v1"),
    ("api::policy::v1", "Eviction", "policy/v1"),
    ("api::networking::v1", "Ingress", "networking.k8s.io/v1"),
    ("api::autoscaling::v1", "Scale", "autoscaling/v1"),
    ("apiextensions_apiserver::pkg::apis::apiextensions::v1", "CustomResourceDefinition", "apiextensions.k8s.io/v1"),
    ("apimachinery::pkg::apis::meta::v1", "DeleteOptions", "meta.k8s.io/v1"),
    ("apimachinery::pkg::apis::meta::v1", "DeleteOptions", "v1"),
];

/// Types whose JSON form is not a struct of fields; `protobuf/mod.rs` converts them by hand.
const HAND_WRITTEN: &[&str] = &[
    "apimachinery::pkg::apis::meta::v1::Time",
    "apimachinery::pkg::apis::meta::v1::MicroTime",
    "apimachinery::pkg::apis::meta::v1::Duration",
    "apimachinery::pkg::apis::meta::v1::FieldsV1",
    "apimachinery::pkg::api::resource::Quantity",
    "apimachinery::pkg::util::intstr::IntOrString",
    "apimachinery::pkg::runtime::RawExtension",
    "apiextensions_apiserver::pkg::apis::apiextensions::v1::Json",
    "apiextensions_apiserver::pkg::apis::apiextensions::v1::JsonSchemaPropsOrArray",
    "apiextensions_apiserver::pkg::apis::apiextensions::v1::JsonSchemaPropsOrBool",
    "apiextensions_apiserver::pkg::apis::apiextensions::v1::JsonSchemaPropsOrStringArray",
];

/// `go_fields.txt`: `(package, GoType, jsonName)` → `(pointer, omitempty)`.
type GoFields = HashMap<(String, String, String), (bool, bool)>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Scalar {
    String,
    Bool,
    Int32,
    Int64,
    Double,
    Bytes,
}

#[derive(Debug, Clone)]
enum Shape {
    Scalar(Scalar),
    Message(String),
    MapString,
    MapBytes,
    MapMessage(String),
}

#[derive(Debug, Clone)]
struct Field {
    ident: String,
    tag: u32,
    repeated: bool,
    shape: Shape,
}

#[derive(Debug, Clone)]
struct Message {
    /// `api::core::v1::Secret`.
    path: String,
    fields: Vec<Field>,
}

fn main() -> Result<()> {
    let check = std::env::args().any(|a| a == "--check");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("the codegen crate lives in e2e/kube-sim")?.to_path_buf();
    let out = root.join("src/protobuf/generated.rs");
    let (pb_dir, pb_version, openapi_dir, openapi_version) = sources(&root)?;
    let messages = read_k8s_pb(&pb_dir.join("src"))?;
    let names = read_openapi_names(&openapi_dir.join("src").join(OPENAPI_RELEASE))?;
    let go = read_go_fields(&root.join("src/protobuf/go_fields.txt"))?;
    let code = rustfmt(&generate(&messages, &names, &go, &pb_version, &openapi_version)?, &root.join("../.."))?;
    if check {
        let current = std::fs::read_to_string(&out).unwrap_or_default();
        if current != code {
            bail!("{} is out of date: run `cargo run -p kube-sim-codegen`", out.display());
        }
        println!("{} is up to date", out.display());
    } else {
        std::fs::write(&out, code).with_context(|| format!("writing {}", out.display()))?;
        println!("wrote {}", out.display());
    }
    Ok(())
}

/// The code as `cargo fmt` leaves it (the workspace's rustfmt.toml).
fn rustfmt(code: &str, workspace: &Path) -> Result<String> {
    use std::io::Write as _;
    let mut child = Command::new("rustfmt")
        .args(["--edition=2024", "--emit=stdout", "--config-path"])
        .arg(workspace.join("rustfmt.toml"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running rustfmt")?;
    child.stdin.take().context("rustfmt stdin")?.write_all(code.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("rustfmt failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8(output.stdout)?)
}

/// Source directories and versions of k8s-pb and k8s-openapi, as Cargo resolved them for kube-sim.
fn sources(root: &Path) -> Result<(PathBuf, String, PathBuf, String)> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--locked", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let meta: Value = serde_json::from_slice(&output.stdout)?;
    let find = |name: &str| -> Result<(PathBuf, String)> {
        let pkg = meta["packages"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .with_context(|| format!("{name} is not a dependency of the workspace"))?;
        let manifest = PathBuf::from(pkg["manifest_path"].as_str().unwrap_or_default());
        let dir = manifest.parent().map(Path::to_path_buf).context("manifest without a directory")?;
        Ok((dir, pkg["version"].as_str().unwrap_or_default().to_owned()))
    };
    let (pb, pb_version) = find("k8s-pb")?;
    let (openapi, openapi_version) = find("k8s-openapi")?;
    Ok((pb, pb_version, openapi, openapi_version))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    Ok(())
}

/// Every prost message of k8s-pb, keyed by module path.
fn read_k8s_pb(src: &Path) -> Result<BTreeMap<String, Message>> {
    let mut files = Vec::new();
    rust_files(src, &mut files)?;
    let mut messages = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src)?.with_extension("");
        let mut module: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
        if module.last().is_some_and(|m| m == "mod" || m == "lib") {
            module.pop();
        }
        let text = std::fs::read_to_string(&file)?;
        let parsed = syn::parse_file(&text).with_context(|| format!("parsing {}", file.display()))?;
        for item in parsed.items {
            let syn::Item::Struct(s) = item else { continue };
            let is_message = s.attrs.iter().any(|a| a.path().is_ident("derive") && quote_attr(a).contains("Message"));
            if !is_message {
                continue;
            }
            let path = join(&module, &s.ident.to_string());
            let mut fields = Vec::new();
            for f in &s.fields {
                let ident = f.ident.as_ref().map(ToString::to_string).context("tuple field in a prost message")?;
                let attr = f
                    .attrs
                    .iter()
                    .find(|a| a.path().is_ident("prost"))
                    .map(quote_attr)
                    .with_context(|| format!("{path}.{ident} has no #[prost] attribute"))?;
                fields.push(parse_field(&module, &ident, &attr, &f.ty).with_context(|| format!("{path}.{ident}"))?);
            }
            messages.insert(path.clone(), Message { path, fields });
        }
    }
    Ok(messages)
}

fn quote_attr(a: &syn::Attribute) -> String {
    use quote::ToTokens as _;
    a.meta.to_token_stream().to_string()
}

fn join(module: &[String], name: &str) -> String {
    let mut parts = module.to_vec();
    parts.push(name.to_owned());
    parts.join("::")
}

fn parse_field(module: &[String], ident: &str, attr: &str, ty: &syn::Type) -> Result<Field> {
    let tag = attr.split("tag = \"").nth(1).and_then(|t| t.split('"').next()).and_then(|t| t.parse().ok()).context("no tag")?;
    let repeated = attr.contains(", repeated");
    let body = attr.trim_start_matches("prost").trim().trim_start_matches('(');
    let shape = if body.starts_with("btree_map") {
        let spec = body.split('"').nth(1).unwrap_or_default();
        match spec {
            "string, string" => Shape::MapString,
            "string, bytes" => Shape::MapBytes,
            "string, message" => Shape::MapMessage(message_type(module, ty, true)?),
            other => bail!("map {other} not handled"),
        }
    } else if body.starts_with("message") {
        Shape::Message(message_type(module, ty, false)?)
    } else {
        let kind = body.split([',', ' ']).next().unwrap_or_default();
        Shape::Scalar(match kind {
            "string" => Scalar::String,
            "bool" => Scalar::Bool,
            "int32" => Scalar::Int32,
            "int64" => Scalar::Int64,
            "double" => Scalar::Double,
            "bytes" => Scalar::Bytes,
            other => bail!("scalar kind {other} not handled"),
        })
    };
    Ok(Field { ident: ident.to_owned(), tag, repeated, shape })
}

/// The module path of the message type inside `Option<T>`, `Vec<T>` or `BTreeMap<String, T>`.
fn message_type(module: &[String], ty: &syn::Type, map_value: bool) -> Result<String> {
    let syn::Type::Path(p) = ty else { bail!("unexpected type") };
    let last = p.path.segments.last().context("empty type path")?;
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else { bail!("no generic argument") };
    let inner = args
        .args
        .iter()
        .filter_map(|a| if let syn::GenericArgument::Type(t) = a { Some(t) } else { None })
        .nth(usize::from(map_value))
        .context("no type argument")?;
    let syn::Type::Path(mut inner) = inner.clone() else { bail!("unexpected inner type") };
    // `Option<Box<T>>` for recursive messages.
    if inner.path.segments.last().is_some_and(|s| s.ident == "Box")
        && let Some(syn::PathArguments::AngleBracketed(args)) = inner.path.segments.last().map(|s| s.arguments.clone())
        && let Some(syn::GenericArgument::Type(syn::Type::Path(boxed))) = args.args.first()
    {
        inner = boxed.clone();
    }
    let mut base = module.to_vec();
    let mut rest = Vec::new();
    for seg in &inner.path.segments {
        let s = seg.ident.to_string();
        if s == "super" && rest.is_empty() {
            base.pop();
        } else {
            rest.push(s);
        }
    }
    base.extend(rest);
    Ok(base.join("::"))
}

/// k8s-openapi's JSON names per definition: `io.k8s.api.core.v1.PodStatus` → {`hostip` → `hostIP`, ...} (keys
/// normalised by [`norm`]).
fn read_openapi_names(dir: &Path) -> Result<HashMap<String, HashMap<String, String>>> {
    let mut files = Vec::new();
    rust_files(dir, &mut files)?;
    let mut out = HashMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        let Some(def) = text.lines().next().and_then(|l| l.strip_prefix("// Generated from definition ")) else { continue };
        let mut names = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some((json, _)) = line.strip_prefix('"').and_then(|l| l.split_once("\" => Field::Key_")) {
                names.insert(norm(json), json.to_owned());
            }
        }
        // prost spells acronyms as words (`JsonSchemaProps`, `IscsiVolumeSource`): definitions are looked up lower-case.
        out.insert(def.trim().to_lowercase(), names);
    }
    Ok(out)
}

/// Go facts per `(package, GoType, jsonName)`: `(pointer, omitempty)`.
fn read_go_fields(path: &Path) -> Result<GoFields> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [package, ty, json, ptr, omit] = cols[..] else { bail!("{}:{}: expected 5 tab-separated columns", path.display(), n + 1) };
        let pointer = match ptr {
            "ptr" => true,
            "val" => false,
            other => bail!("{}:{}: {other} is neither ptr nor val", path.display(), n + 1),
        };
        let omitempty = match omit {
            "omitempty" => true,
            "always" => false,
            other => bail!("{}:{}: {other} is neither omitempty nor always", path.display(), n + 1),
        };
        out.insert((package.to_owned(), ty.to_owned(), json.to_owned()), (pointer, omitempty));
    }
    Ok(out)
}

/// Field names compared without case, `_`, `-`, `$` or a raw-identifier prefix.
fn norm(name: &str) -> String {
    name.trim_start_matches("r#").chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// `io.k8s.api.core.v1.Secret` for `api::core::v1::Secret`.
fn definition(path: &str) -> String {
    let dotted =
        path.replace("::", ".").replace("apiextensions_apiserver", "apiextensions-apiserver").replace("kube_aggregator", "kube-aggregator");
    format!("io.k8s.{dotted}")
}

/// `core/v1` for `api::core::v1::Secret`, as `go_fields.txt` names packages.
fn go_package(path: &str) -> String {
    let parts: Vec<&str> = path.split("::").collect();
    let n = parts.len();
    format!("{}/{}", parts[n - 3], parts[n - 2])
}

fn type_name(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path)
}

fn generate(
    messages: &BTreeMap<String, Message>,
    names: &HashMap<String, HashMap<String, String>>,
    go: &GoFields,
    pb_version: &str,
    openapi_version: &str,
) -> Result<String> {
    // The closure of message types reachable from the roots.
    let mut todo: Vec<String> = ROOTS.iter().map(|(m, k, _)| format!("{m}::{k}")).collect();
    let mut seen = BTreeSet::new();
    while let Some(path) = todo.pop() {
        if !seen.insert(path.clone()) || HAND_WRITTEN.contains(&path.as_str()) {
            continue;
        }
        let msg = messages.get(&path).with_context(|| format!("k8s-pb has no message {path}"))?;
        for f in &msg.fields {
            if let Shape::Message(t) | Shape::MapMessage(t) = &f.shape {
                todo.push(t.clone());
            }
        }
    }
    let mut code = String::new();
    writeln!(
        code,
        "// @generated by kube-sim-codegen (e2e/kube-sim/codegen) from k8s-pb {pb_version}, the JSON names of k8s-openapi \
         {openapi_version} ({OPENAPI_RELEASE}) and go_fields.txt. Do not edit: run `cargo run -p kube-sim-codegen`.\n"
    )?;
    code.push_str("#![allow(clippy::too_many_lines, clippy::wildcard_imports, clippy::similar_names, clippy::match_same_arms)]\n\n");
    code.push_str("use k8s_pb as pb;\nuse serde_json::{Map, Value};\n\nuse super::{DecodeError, Known, ToJson, check, object};\n\n");
    code.push_str(
        "/// Decodes the object in an envelope's `raw` bytes by `apiVersion` and `kind`; `None` for a kind kube-sim does not decode.\n",
    );
    code.push_str(
        "pub(super) fn decode_kind(api_version: &str, kind: &str, raw: &[u8]) -> Option<Result<Map<String, Value>, DecodeError>> {\n",
    );
    code.push_str("    Some(match (api_version, kind) {\n");
    for (module, kind, api_version) in ROOTS {
        writeln!(code, "        ({api_version:?}, {kind:?}) => object::<pb::{module}::{kind}>(kind, raw),")?;
    }
    code.push_str("        _ => return None,\n    })\n}\n\n");
    code.push_str("/// The `(apiVersion, kind)` pairs [`decode_kind`] decodes.\npub(super) const KINDS: &[(&str, &str)] = &[\n");
    for (_, kind, api_version) in ROOTS {
        writeln!(code, "    ({api_version:?}, {kind:?}),")?;
    }
    code.push_str("];\n");
    for path in &seen {
        if HAND_WRITTEN.contains(&path.as_str()) {
            continue;
        }
        let msg = &messages[path];
        code.push_str(&message_impl(msg, messages, names, go)?);
    }
    Ok(code)
}

fn message_impl(
    msg: &Message,
    messages: &BTreeMap<String, Message>,
    names: &HashMap<String, HashMap<String, String>>,
    go: &GoFields,
) -> Result<String> {
    let def = definition(&msg.path).to_lowercase();
    let package = go_package(&msg.path);
    let ty = type_name(&msg.path);
    let openapi = names.get(&def);
    let mut to_json = String::new();
    let mut tags = String::new();
    let idents: Vec<&str> = msg.fields.iter().map(|f| f.ident.as_str()).collect();
    for f in &msg.fields {
        let key = norm(&f.ident);
        let from_go = go.keys().find(|(p, t, j)| p == &package && t.eq_ignore_ascii_case(ty) && norm(j) == key).map(|(_, _, j)| j.clone());
        // A type k8s-openapi flattens away (`EphemeralContainerCommon`) takes the name every definition agrees on.
        let json = from_go.clone().or_else(|| openapi.and_then(|n| n.get(&key)).cloned()).or_else(|| {
            let all: BTreeSet<&String> = names.values().filter_map(|n| n.get(&key)).collect();
            (openapi.is_none() && all.len() == 1).then(|| all.into_iter().next().cloned()).flatten()
        });
        let id = &f.ident;
        // An embedded Go struct (`LocalObjectReference `json:",inline"``) is a field of its own in protobuf and
        // merged into the parent in JSON: a message field named after its type, with no JSON name of its own.
        // (`Probe.handler` embeds `ProbeHandler`: recognised by the parent's definition holding the child's fields.)
        if let (None, Shape::Message(t), false) = (&json, &f.shape, f.repeated)
            && (norm(type_name(t)) == key
                || openapi
                    .zip(messages.get(t))
                    .is_some_and(|(parent, child)| child.fields.iter().all(|c| parent.contains_key(&norm(&c.ident)))))
        {
            writeln!(to_json, "    super::inline(&mut m, {id}.as_ref())?;")?;
            writeln!(tags, "        {} => Known::Message(check::<pb::{t}>),", f.tag)?;
            continue;
        }
        let json =
            json.with_context(|| format!("no JSON name for {}.{} (k8s-openapi {def}, go_fields.txt {package} {ty})", msg.path, f.ident))?;
        match (&f.shape, f.repeated) {
            // `[]byte` (a slice, so not in go_fields.txt): written when non-nil, and every such field is
            // `omitempty`, so an empty one is dropped.
            (Shape::Scalar(Scalar::Bytes), false) => {
                writeln!(to_json, "    super::omitempty(&mut m, {json:?}, {id}.as_ref())?;")?;
                writeln!(tags, "        {} => Known::Leaf,", f.tag)?;
            }
            (Shape::Scalar(_), false) => {
                let (pointer, omitempty) = go
                    .iter()
                    .find(|((p, t, j), _)| p == &package && t.eq_ignore_ascii_case(ty) && j == &json)
                    .map(|(_, facts)| *facts)
                    .with_context(|| format!("go_fields.txt lacks {package}\t{ty}\t{json} (scalar field {}.{})", msg.path, f.ident))?;
                // Writers are called as `super::<name>`: a field may share a writer's name (`message`, `list`).
                let call = match (pointer, omitempty) {
                    (true, _) => "pointer",
                    (false, true) => "omitempty",
                    (false, false) => "always",
                };
                writeln!(to_json, "    super::{call}(&mut m, {json:?}, {id}.as_ref())?;")?;
                writeln!(tags, "        {} => Known::Leaf,", f.tag)?;
            }
            (Shape::Scalar(Scalar::Bytes), true) => bail!("{}.{}: repeated bytes not handled", msg.path, f.ident),
            (Shape::Scalar(_), true) => {
                writeln!(to_json, "    super::list(&mut m, {json:?}, {id})?;")?;
                writeln!(tags, "        {} => Known::Leaf,", f.tag)?;
            }
            (Shape::Message(t), false) => {
                writeln!(to_json, "    super::message(&mut m, {json:?}, {id}.as_ref())?;")?;
                writeln!(tags, "        {} => Known::Message(check::<pb::{t}>),", f.tag)?;
            }
            (Shape::Message(t), true) => {
                writeln!(to_json, "    super::messages(&mut m, {json:?}, {id})?;")?;
                writeln!(tags, "        {} => Known::Message(check::<pb::{t}>),", f.tag)?;
            }
            (Shape::MapString, _) => {
                writeln!(to_json, "    super::string_map(&mut m, {json:?}, {id});")?;
                writeln!(tags, "        {} => Known::Leaf,", f.tag)?;
            }
            (Shape::MapBytes, _) => {
                writeln!(to_json, "    super::bytes_map(&mut m, {json:?}, {id});")?;
                writeln!(tags, "        {} => Known::Leaf,", f.tag)?;
            }
            (Shape::MapMessage(t), _) => {
                writeln!(to_json, "    super::message_map(&mut m, {json:?}, {id})?;")?;
                writeln!(tags, "        {} => Known::MapOfMessages(check::<pb::{t}>),", f.tag)?;
            }
        }
    }
    let destructure =
        if idents.is_empty() { "let Self {} = self;".to_owned() } else { format!("let Self {{ {} }} = self;", idents.join(", ")) };
    let tags_fn = if tags.is_empty() {
        "    fn known(_tag: u32) -> Known {\n        Known::Unknown\n    }\n".to_owned()
    } else {
        format!("    fn known(tag: u32) -> Known {{\n        match tag {{\n{tags}        _ => Known::Unknown,\n        }}\n    }}\n")
    };
    let binding = if to_json.is_empty() { "let m" } else { "let mut m" };
    Ok(format!(
        "\nimpl ToJson for pb::{path} {{\n    fn to_json(&self) -> Result<Option<Value>, DecodeError> {{\n        {destructure}\n        {binding} = Map::new();\n{to_json}        Ok(Some(Value::Object(m)))\n    }}\n\n{tags_fn}}}\n",
        path = msg.path
    ))
}
