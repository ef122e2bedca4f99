//! URIs as a job writes them: `s3://bucket/key`, `file:///path` or a local
//! path; joined, compared and split without touching any storage.

/// Joins a folder URI and a relative key with exactly one `/` between them.
pub fn join(base: &str, rel: &str) -> String {
    let base = base.trim_end_matches('/');
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        base.to_string()
    } else {
        format!("{base}/{rel}")
    }
}

/// The part of `uri` below the folder `prefix`, if `uri` is under it.
pub fn relative<'a>(prefix: &str, uri: &'a str) -> Option<&'a str> {
    let prefix = prefix.trim_end_matches('/');
    uri.strip_prefix(prefix)?.strip_prefix('/')
}

/// The last segment of a URI.
pub fn file_name(uri: &str) -> &str {
    uri.rsplit('/').next().unwrap_or(uri)
}

/// `uri` in a form in which two names of one object are equal: S3 URIs as
/// they are; local paths absolute, without `file://` or `.` segments, so
/// `out/x`, `./out/x` and `file:///<cwd>/out/x` are one file. Symbolic links
/// and `..` are left as they are (the file may not exist yet).
pub fn canonical(uri: &str) -> String {
    if uri.contains("://") && !uri.starts_with("file://") {
        return uri.to_string();
    }
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    match std::path::absolute(path) {
        Ok(p) => p.to_string_lossy().into_owned(),
        Err(_) => path.to_string(),
    }
}

/// Whether two folder URIs overlap (one is inside the other or they are equal).
pub fn overlaps(a: &str, b: &str) -> bool {
    let a = format!("{}/", canonical(a).trim_end_matches('/'));
    let b = format!("{}/", canonical(b).trim_end_matches('/'));
    a.starts_with(&b) || b.starts_with(&a)
}

/// Whether `uri` names an S3 object (`s3://bucket/key`).
pub fn is_s3(uri: &str) -> bool {
    uri.starts_with("s3://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_and_relative() {
        assert_eq!(join("s3://b/p/", "/x/y"), "s3://b/p/x/y");
        assert_eq!(join("/tmp/a", "b"), "/tmp/a/b");
        assert_eq!(relative("s3://b/p/", "s3://b/p/x/y"), Some("x/y"));
        assert_eq!(relative("s3://b/p", "s3://b/px/y"), None);
        assert_eq!(file_name("s3://b/p/x.parquet"), "x.parquet");
        assert!(overlaps("s3://b/p", "s3://b/p/staging"));
        assert!(!overlaps("s3://b/p", "s3://b/pp"));
        let cwd = std::env::current_dir().unwrap();
        let here = |rel: &str| cwd.join(rel).to_string_lossy().into_owned();
        assert_eq!(canonical("out/x"), here("out/x"));
        assert_eq!(canonical("./out/./x"), here("out/x"));
        assert_eq!(
            canonical(&format!("file://{}", here("out/x"))),
            here("out/x")
        );
        assert_eq!(canonical("s3://b/./p"), "s3://b/./p");
        assert!(overlaps("out/staging", &here("out/staging/lake")));
    }
}
