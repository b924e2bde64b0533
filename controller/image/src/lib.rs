//! `serin-image`: Serin's container image as an OCI archive, written directly from locally built binaries: no
//! container engine, no registry, no base image to pull.
//!
//! The image has one layer holding what the binaries need at run time and nothing else (no shell, no package
//! manager), like a distroless `cc` image: the binaries, the shared libraries `ldd` lists for them (glibc, libgcc;
//! rustls means no OpenSSL), `/etc/passwd` and `/etc/group` with the `nonroot` user (UID/GID 65532) it runs as, the
//! CA certificates for the metric providers' HTTPS, and an `nsswitch.conf`.
//!
//! The output is reproducible: entries sorted, every time set to `created` (the commit's time), owners fixed, gzip
//! without a timestamp. The same binaries give the same digest.
//!
//! Layout of the archive (the OCI image layout spec, read by `skopeo copy oci-archive:…`, `podman load`,
//! `ctr images import`): `oci-layout`, `index.json` (one manifest, tagged by `org.opencontainers.image.ref.name`),
//! `blobs/sha256/<digest>` for the manifest, the config and the gzipped layer.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use jiff::Timestamp;
use serde_json::{Value, json};

/// The user the image runs as (distroless `nonroot`).
pub const NONROOT: u32 = 65532;

/// Media types of the OCI image spec.
pub mod media_type {
    /// Image index (`index.json`).
    pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// Image manifest.
    pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// Image configuration.
    pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// A gzipped tar layer.
    pub const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
}

/// Why the image could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was attempted.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `ldd` failed or answered something unexpected.
    #[error("listing the shared libraries of {binary}: {reason}")]
    Ldd {
        /// The binary.
        binary: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The archive does not hold a well-formed image.
    #[error("malformed image archive: {0}")]
    Malformed(String),
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ImageError {
    let path = path.to_owned();
    move |source| ImageError::Io { what, path, source }
}

/// Where a file's content comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// A file of the build machine.
    Host(PathBuf),
    /// Given bytes.
    Bytes(Vec<u8>),
}

/// A file of the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFile {
    /// Absolute path in the image.
    pub path: String,
    /// Its content.
    pub content: Content,
    /// Permission bits.
    pub mode: u32,
}

/// What the image is.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    /// `org.opencontainers.image.title`, also the archive's name.
    pub title: String,
    /// Version (tag).
    pub version: String,
    /// Source revision (git commit).
    pub revision: String,
    /// Source repository URL.
    pub source: String,
    /// Description.
    pub description: String,
    /// Licence (SPDX).
    pub licenses: String,
    /// Creation time: every file's mtime and the config's `created`.
    pub created: Timestamp,
    /// The entrypoint.
    pub entrypoint: Vec<String>,
    /// Environment.
    pub env: Vec<String>,
    /// The files.
    pub files: Vec<ImageFile>,
}

/// A built image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Built {
    /// `sha256:…` of the manifest: what `image@sha256:…` pins.
    pub manifest_digest: String,
    /// `sha256:…` of the gzipped layer.
    pub layer_digest: String,
    /// `sha256:…` of the uncompressed layer (`rootfs.diff_ids`).
    pub diff_id: String,
}

/// The runtime files for `binaries` (`(host path, path in the image)`): the binaries, their shared libraries, the
/// `nonroot` user, CA certificates and `nsswitch.conf`.
pub fn runtime_files(binaries: &[(PathBuf, String)], ca_certificates: &Path) -> Result<Vec<ImageFile>, ImageError> {
    let mut files = Vec::new();
    let mut libraries = BTreeSet::new();
    for (host, path) in binaries {
        files.push(ImageFile { path: path.clone(), content: Content::Host(host.clone()), mode: 0o755 });
        libraries.extend(shared_libraries(host)?);
    }
    for library in libraries {
        let path = library.to_string_lossy().into_owned();
        // The dynamic loader is executed by the kernel.
        let mode = if path.contains("/ld-linux") { 0o755 } else { 0o644 };
        files.push(ImageFile { path, content: Content::Host(library), mode });
    }
    let passwd = format!("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n");
    files.push(ImageFile { path: "/etc/passwd".into(), content: Content::Bytes(passwd.into_bytes()), mode: 0o644 });
    let group = format!("root:x:0:\nnonroot:x:{NONROOT}:\n");
    files.push(ImageFile { path: "/etc/group".into(), content: Content::Bytes(group.into_bytes()), mode: 0o644 });
    files.push(ImageFile { path: "/etc/nsswitch.conf".into(), content: Content::Bytes(b"hosts: files dns\n".to_vec()), mode: 0o644 });
    files.push(ImageFile {
        path: "/etc/ssl/certs/ca-certificates.crt".into(),
        content: Content::Host(ca_certificates.to_owned()),
        mode: 0o644,
    });
    Ok(files)
}

/// The shared libraries (and dynamic loader) `ldd` lists for `binary`, as absolute paths of this machine.
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let output =
        Command::new("ldd").arg(binary).output().map_err(|e| ImageError::Ldd { binary: binary.to_owned(), reason: e.to_string() })?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        // A static binary: `ldd` says "not a dynamic executable" and needs nothing.
        let stderr = String::from_utf8_lossy(&output.stderr);
        if text.contains("not a dynamic executable") || stderr.contains("not a dynamic executable") {
            return Ok(Vec::new());
        }
        return Err(ImageError::Ldd { binary: binary.to_owned(), reason: format!("{}{stderr}", text.trim()) });
    }
    parse_ldd(&text).map_err(|reason| ImageError::Ldd { binary: binary.to_owned(), reason })
}

/// Paths in `ldd` output: `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` and the loader's
/// `/lib64/ld-linux-x86-64.so.2 (0x…)`; the vDSO has no file.
pub fn parse_ldd(text: &str) -> Result<Vec<PathBuf>, String> {
    let mut paths = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.contains("not found") {
            return Err(format!("missing library: {line}"));
        }
        let path = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next().unwrap_or_default(),
            None => line.split_whitespace().next().unwrap_or_default(),
        };
        if path.starts_with('/') {
            paths.push(PathBuf::from(path));
        }
    }
    Ok(paths)
}

fn sha256(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = String::from("sha256:");
    for byte in digest.as_ref() {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

fn header(path: &str, size: u64, mode: u32, entry: tar::EntryType, mtime: u64, owner: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(entry);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_uid(u64::from(owner));
    h.set_gid(u64::from(owner));
    let _ = h.set_path(path);
    h.set_cksum();
    h
}

/// The layer: every parent directory, then the files, sorted by path, owned by root (the home by `nonroot`).
fn layer(files: &[ImageFile], mtime: u64) -> Result<Vec<u8>, ImageError> {
    let mut dirs = BTreeSet::new();
    for file in files {
        let mut parent = Path::new(&file.path).parent();
        while let Some(dir) = parent.filter(|d| *d != Path::new("/")) {
            dirs.insert(dir.to_string_lossy().trim_start_matches('/').to_owned());
            parent = dir.parent();
        }
    }
    dirs.insert("home/nonroot".to_owned());
    dirs.insert("home".to_owned());
    dirs.insert("tmp".to_owned());
    let mut entries: BTreeMap<String, (Option<&ImageFile>, u32, u32)> = BTreeMap::new();
    for dir in dirs {
        let (mode, owner) = match dir.as_str() {
            "home/nonroot" => (0o700, NONROOT),
            "tmp" => (0o1777, 0),
            _ => (0o755, 0),
        };
        entries.insert(format!("{dir}/"), (None, mode, owner));
    }
    for file in files {
        entries.insert(file.path.trim_start_matches('/').to_owned(), (Some(file), file.mode, 0));
    }
    let mut builder = tar::Builder::new(Vec::new());
    for (path, (file, mode, owner)) in entries {
        match file {
            None => {
                let h = header(&path, 0, mode, tar::EntryType::Directory, mtime, owner);
                builder.append(&h, std::io::empty()).map_err(io("writing the layer entry", Path::new(&path)))?;
            }
            Some(file) => {
                let bytes = match &file.content {
                    Content::Bytes(bytes) => bytes.clone(),
                    Content::Host(host) => std::fs::read(host).map_err(io("reading", host))?,
                };
                let h = header(&path, bytes.len() as u64, mode, tar::EntryType::Regular, mtime, owner);
                builder.append(&h, bytes.as_slice()).map_err(io("writing the layer entry", Path::new(&path)))?;
            }
        }
    }
    builder.into_inner().map_err(io("finishing the layer", Path::new("layer")))
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
    // No file name and mtime 0 in the gzip header: the same layer always compresses to the same bytes.
    let mut encoder = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).map_err(io("compressing", Path::new("layer")))?;
    encoder.finish().map_err(io("compressing", Path::new("layer")))
}

/// Writes the image described by `spec` as an OCI archive at `archive`.
pub fn build(spec: &ImageSpec, archive: &Path) -> Result<Built, ImageError> {
    let mtime = u64::try_from(spec.created.as_second()).unwrap_or(0);
    let layer_tar = layer(&spec.files, mtime)?;
    let diff_id = sha256(&layer_tar);
    let layer_gz = gzip(&layer_tar)?;
    let layer_digest = sha256(&layer_gz);
    let created = spec.created.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let labels = json!({
        "org.opencontainers.image.title": spec.title,
        "org.opencontainers.image.description": spec.description,
        "org.opencontainers.image.version": spec.version,
        "org.opencontainers.image.revision": spec.revision,
        "org.opencontainers.image.source": spec.source,
        "org.opencontainers.image.licenses": spec.licenses,
        "org.opencontainers.image.created": created,
    });
    let config = json!({
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": format!("{NONROOT}:{NONROOT}"),
            "Entrypoint": spec.entrypoint,
            "Env": spec.env,
            "WorkingDir": "/home/nonroot",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": format!("serin-image {}", env!("CARGO_PKG_VERSION"))}],
    });
    let config_bytes = serde_json::to_vec(&config).unwrap_or_default();
    let config_digest = sha256(&config_bytes);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_type::MANIFEST,
        "config": {"mediaType": media_type::CONFIG, "digest": config_digest, "size": config_bytes.len()},
        "layers": [{"mediaType": media_type::LAYER, "digest": layer_digest, "size": layer_gz.len()}],
        "annotations": labels,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap_or_default();
    let manifest_digest = sha256(&manifest_bytes);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media_type::INDEX,
        "manifests": [{
            "mediaType": media_type::MANIFEST,
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": spec.version},
            "platform": {"architecture": "amd64", "os": "linux"},
        }],
    });
    let index_bytes = serde_json::to_vec(&index).unwrap_or_default();

    let blob = |digest: &str| format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    files.insert("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec());
    files.insert("index.json".into(), index_bytes);
    files.insert(blob(&manifest_digest), manifest_bytes);
    files.insert(blob(&config_digest), config_bytes);
    files.insert(blob(&layer_digest), layer_gz);
    let mut builder = tar::Builder::new(Vec::new());
    for dir in ["blobs/", "blobs/sha256/"] {
        let h = header(dir, 0, 0o755, tar::EntryType::Directory, mtime, 0);
        builder.append(&h, std::io::empty()).map_err(io("writing", archive))?;
    }
    for (path, bytes) in &files {
        let h = header(path, bytes.len() as u64, 0o644, tar::EntryType::Regular, mtime, 0);
        builder.append(&h, bytes.as_slice()).map_err(io("writing", archive))?;
    }
    let bytes = builder.into_inner().map_err(io("writing", archive))?;
    if let Some(dir) = archive.parent() {
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    }
    std::fs::write(archive, bytes).map_err(io("writing", archive))?;
    Ok(Built { manifest_digest, layer_digest, diff_id })
}

/// An image read back from an archive: its manifest digest, config, and layer files.
#[derive(Debug)]
pub struct Unpacked {
    /// `sha256:…` of the manifest, from `index.json`.
    pub manifest_digest: String,
    /// The image configuration.
    pub config: Value,
    /// The layer's entries: path (without the leading `/`) to `(mode, uid, content)`; directories have no content.
    pub entries: BTreeMap<String, (u32, u64, Option<Vec<u8>>)>,
}

/// Reads an OCI archive written by [`build`] (or any single-manifest, single-layer OCI archive), checking every
/// digest and size on the way.
pub fn unpack(archive: &Path) -> Result<Unpacked, ImageError> {
    let malformed = |what: String| ImageError::Malformed(what);
    let bytes = std::fs::read(archive).map_err(io("reading", archive))?;
    let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut reader = tar::Archive::new(bytes.as_slice());
    for entry in reader.entries().map_err(io("reading", archive))? {
        let mut entry = entry.map_err(io("reading", archive))?;
        let path = entry.path().map_err(io("reading", archive))?.to_string_lossy().into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).map_err(io("reading", archive))?;
        blobs.insert(path, content);
    }
    let layout = blobs.get("oci-layout").ok_or_else(|| malformed("no oci-layout".into()))?;
    if serde_json::from_slice::<Value>(layout).ok().and_then(|v| v["imageLayoutVersion"].as_str().map(str::to_owned)).as_deref()
        != Some("1.0.0")
    {
        return Err(malformed("oci-layout is not version 1.0.0".into()));
    }
    let json = |path: &str| -> Result<Value, ImageError> {
        let bytes = blobs.get(path).ok_or_else(|| malformed(format!("no {path}")))?;
        serde_json::from_slice(bytes).map_err(|e| malformed(format!("{path}: {e}")))
    };
    let descriptor = |d: &Value, what: &str| -> Result<(String, Vec<u8>), ImageError> {
        let digest = d["digest"].as_str().ok_or_else(|| malformed(format!("{what}: no digest")))?.to_owned();
        let path = format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
        let bytes = blobs.get(&path).ok_or_else(|| malformed(format!("{what}: no blob {path}")))?.clone();
        if sha256(&bytes) != digest {
            return Err(malformed(format!("{what}: blob {path} does not match its digest")));
        }
        if d["size"].as_u64() != Some(bytes.len() as u64) {
            return Err(malformed(format!("{what}: size differs from the descriptor's")));
        }
        Ok((digest, bytes))
    };
    let index = json("index.json")?;
    let manifests = index["manifests"].as_array().ok_or_else(|| malformed("index.json has no manifests".into()))?;
    let [manifest_descriptor] = manifests.as_slice() else { return Err(malformed("index.json must list one manifest".into())) };
    let (manifest_digest, manifest_bytes) = descriptor(manifest_descriptor, "manifest")?;
    let manifest: Value = serde_json::from_slice(&manifest_bytes).map_err(|e| malformed(format!("manifest: {e}")))?;
    let (_, config_bytes) = descriptor(&manifest["config"], "config")?;
    let config: Value = serde_json::from_slice(&config_bytes).map_err(|e| malformed(format!("config: {e}")))?;
    let layers = manifest["layers"].as_array().ok_or_else(|| malformed("manifest has no layers".into()))?;
    let [layer_descriptor] = layers.as_slice() else { return Err(malformed("one layer expected".into())) };
    let (_, layer_gz) = descriptor(layer_descriptor, "layer")?;
    let mut layer_tar = Vec::new();
    flate2::read::GzDecoder::new(layer_gz.as_slice()).read_to_end(&mut layer_tar).map_err(io("decompressing the layer of", archive))?;
    if config["rootfs"]["diff_ids"][0].as_str() != Some(sha256(&layer_tar).as_str()) {
        return Err(malformed("the layer does not match rootfs.diff_ids".into()));
    }
    let mut entries = BTreeMap::new();
    let mut reader = tar::Archive::new(layer_tar.as_slice());
    for entry in reader.entries().map_err(io("reading the layer of", archive))? {
        let mut entry = entry.map_err(io("reading the layer of", archive))?;
        let path = entry.path().map_err(io("reading the layer of", archive))?.to_string_lossy().into_owned();
        let header = entry.header();
        let mode = header.mode().map_err(io("reading the layer of", archive))?;
        let uid = header.uid().map_err(io("reading the layer of", archive))?;
        let content = if header.entry_type().is_dir() {
            None
        } else {
            let mut content = Vec::new();
            entry.read_to_end(&mut content).map_err(io("reading the layer of", archive))?;
            Some(content)
        };
        entries.insert(path.trim_end_matches('/').to_owned(), (mode, uid, content));
    }
    Ok(Unpacked { manifest_digest, config, entries })
}

/// Extracts the layer of `unpacked` into `root` (a root filesystem to run the image's binaries from).
pub fn extract(unpacked: &Unpacked, root: &Path) -> Result<(), ImageError> {
    use std::os::unix::fs::PermissionsExt;
    for (path, (mode, _, content)) in &unpacked.entries {
        let target = root.join(path);
        match content {
            None => std::fs::create_dir_all(&target).map_err(io("creating", &target))?,
            Some(bytes) => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
                }
                std::fs::write(&target, bytes).map_err(io("writing", &target))?;
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(*mode)).map_err(io("setting the mode of", &target))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(files: Vec<ImageFile>) -> ImageSpec {
        ImageSpec {
            title: "serin-controller".into(),
            version: "0.1.0".into(),
            revision: "abc123".into(),
            source: "https://github.com/serin-dev/serin".into(),
            description: "test".into(),
            licenses: "Apache-2.0".into(),
            created: Timestamp::from_second(1_800_000_000).expect("time"),
            entrypoint: vec!["/usr/local/bin/serin-controller".into()],
            env: vec!["PATH=/usr/local/bin".into()],
            files,
        }
    }

    fn file(path: &str, bytes: &[u8], mode: u32) -> ImageFile {
        ImageFile { path: path.into(), content: Content::Bytes(bytes.to_vec()), mode }
    }

    #[test]
    fn an_image_reads_back_with_its_config_files_and_digests() {
        let dir = std::env::temp_dir().join(format!("serin-image-test-{}", std::process::id()));
        let archive = dir.join("image.oci.tar");
        let files = vec![file("/usr/local/bin/serin-controller", b"\x7fELF...", 0o755), file("/etc/passwd", b"nonroot", 0o644)];
        let built = build(&spec(files.clone()), &archive).expect("built");
        let unpacked = unpack(&archive).expect("reads back");
        assert_eq!(unpacked.manifest_digest, built.manifest_digest);
        let config = &unpacked.config["config"];
        assert_eq!(config["User"], "65532:65532");
        assert_eq!(config["Entrypoint"], json!(["/usr/local/bin/serin-controller"]));
        assert_eq!(config["Labels"]["org.opencontainers.image.revision"], "abc123");
        assert_eq!(config["Labels"]["org.opencontainers.image.version"], "0.1.0");
        assert_eq!(unpacked.config["rootfs"]["diff_ids"][0], json!(built.diff_id));
        let (mode, uid, content) = &unpacked.entries["usr/local/bin/serin-controller"];
        assert_eq!((*mode, *uid, content.as_deref()), (0o755, 0, Some(&b"\x7fELF..."[..])));
        assert_eq!(unpacked.entries["home/nonroot"].1, u64::from(NONROOT), "the home belongs to nonroot");
        assert!(unpacked.entries.contains_key("usr/local/bin"), "parent directories are entries");

        // Reproducible: the same input gives the same digest; any change gives another.
        let again = build(&spec(files.clone()), &dir.join("again.oci.tar")).expect("built");
        assert_eq!(again, built);
        let mut changed = files;
        changed[1] = file("/etc/passwd", b"other", 0o644);
        assert_ne!(build(&spec(changed), &dir.join("changed.oci.tar")).expect("built").manifest_digest, built.manifest_digest);

        // A flipped byte in a blob is caught.
        let mut bytes = std::fs::read(&archive).expect("archive");
        let at = bytes.len() / 2;
        bytes[at] ^= 0xff;
        std::fs::write(dir.join("broken.oci.tar"), bytes).expect("write");
        assert!(unpack(&dir.join("broken.oci.tar")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ldd_output_gives_the_library_and_loader_paths() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f1)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f3)\n";
        assert_eq!(
            parse_ldd(text).expect("parses"),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
        assert!(parse_ldd("\tlibfoo.so.1 => not found\n").is_err());
    }

    #[test]
    fn runtime_files_carry_the_libraries_a_binary_needs() {
        let me = std::env::current_exe().expect("the test binary");
        let files = runtime_files(&[(me, "/usr/local/bin/x".into())], Path::new("/etc/hostname")).expect("files");
        assert!(files.iter().any(|f| f.path.ends_with("libc.so.6")), "{files:?}");
        assert!(files.iter().any(|f| f.path.contains("ld-linux") && f.mode == 0o755));
        assert!(files.iter().any(|f| f.path == "/etc/passwd"));
    }
}
