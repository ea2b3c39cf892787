//! The read-path and patch-target allowlists as validated types (SPEC §5).
//!
//! Both are decided lexically, on the exact string, before any filesystem call: an
//! [`AllowlistedPath`] or [`PatchTarget`] can only be made by the grammar check here, so code
//! that opens a file cannot be handed anything else. The grammar is exact: no normalisation,
//! no case folding, no decoding — any other spelling is refused.

use serde::{Deserialize, Serialize};

/// Longest `NAME` accepted in `crashes/NAME.txt` and `hotfix/NAME.yaml`.
pub const MAX_NAME_LEN: usize = 128;

/// Why a path was refused (the wire code is `path_not_allowlisted` or
/// `patch_target_not_allowlisted`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path is not on the allowlist")]
pub struct NotAllowlisted;

/// A path, relative to the agent install root, that `read_file` may read.
///
/// Grammar: `argus.log`, `argus.log.K` (K = 1..99, no leading zero), `config.yaml`,
/// `version.txt`, `agent_info.json`, `crashes/NAME.txt` (NAME of `[A-Za-z0-9._-]`, not starting
/// with a dot, at most [`MAX_NAME_LEN`] characters).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AllowlistedPath(String);

/// A log file `tail_log` may read: `argus.log` or `argus.log.K`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LogFile(String);

/// A file `apply_patch` may write: `config.yaml` or `hotfix/NAME.yaml`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PatchTarget(String);

impl AllowlistedPath {
    /// The path's components, in order, for a component-wise no-follow open.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl LogFile {
    /// The default log, `argus.log`.
    pub fn current() -> LogFile {
        LogFile("argus.log".into())
    }
    /// The file name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The same file as a read path (every log file is readable).
    pub fn as_read_path(&self) -> AllowlistedPath {
        AllowlistedPath(self.0.clone())
    }
}

impl PatchTarget {
    /// The target's components, in order.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
    /// The target as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The directory the target lives in, relative to the install root (`""` or `"hotfix"`).
    pub fn parent(&self) -> &str {
        self.0.rsplit_once('/').map_or("", |(dir, _)| dir)
    }
    /// The file name within its directory.
    pub fn file_name(&self) -> &str {
        self.0.rsplit_once('/').map_or(self.0.as_str(), |(_, name)| name)
    }
}

impl TryFrom<&str> for AllowlistedPath {
    type Error = NotAllowlisted;
    fn try_from(text: &str) -> Result<Self, NotAllowlisted> {
        let allowed = is_log_file(text)
            || matches!(text, "config.yaml" | "version.txt" | "agent_info.json")
            || text.strip_prefix("crashes/").is_some_and(|file| is_safe_file_name(file, ".txt"));
        if allowed {
            Ok(AllowlistedPath(text.to_owned()))
        } else {
            Err(NotAllowlisted)
        }
    }
}

impl TryFrom<&str> for LogFile {
    type Error = NotAllowlisted;
    fn try_from(text: &str) -> Result<Self, NotAllowlisted> {
        if is_log_file(text) {
            Ok(LogFile(text.to_owned()))
        } else {
            Err(NotAllowlisted)
        }
    }
}

impl TryFrom<&str> for PatchTarget {
    type Error = NotAllowlisted;
    fn try_from(text: &str) -> Result<Self, NotAllowlisted> {
        let allowed =
            text == "config.yaml" || text.strip_prefix("hotfix/").is_some_and(|file| is_safe_file_name(file, ".yaml"));
        if allowed {
            Ok(PatchTarget(text.to_owned()))
        } else {
            Err(NotAllowlisted)
        }
    }
}

macro_rules! string_conversions {
    ($($ty:ty),*) => {$(
        impl TryFrom<String> for $ty {
            type Error = NotAllowlisted;
            fn try_from(text: String) -> Result<Self, NotAllowlisted> {
                <$ty>::try_from(text.as_str())
            }
        }
        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.0
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
string_conversions!(AllowlistedPath, LogFile, PatchTarget);

/// `argus.log` or `argus.log.K` with K in 1..=99 written without a leading zero.
fn is_log_file(text: &str) -> bool {
    match text.strip_prefix("argus.log") {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix('.')
            .is_some_and(|k| matches!(k.len(), 1 | 2) && k.bytes().all(|b| b.is_ascii_digit()) && !k.starts_with('0')),
        None => false,
    }
}

/// `NAME` + `extension`, NAME of `[A-Za-z0-9._-]`, non-empty, not starting with a dot, bounded
/// length. Also no `..` anywhere in the file name: harmless inside one component, but nobody
/// needs it and a reviewer should never have to reason about it (docs/decisions/allowlists.md).
fn is_safe_file_name(file: &str, extension: &str) -> bool {
    file.strip_suffix(extension).is_some_and(|name| {
        !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && !name.starts_with('.')
            && !file.contains("..")
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read(text: &str) -> bool {
        AllowlistedPath::try_from(text).is_ok()
    }
    fn target(text: &str) -> bool {
        PatchTarget::try_from(text).is_ok()
    }

    #[test]
    fn exact_read_allowlist_is_accepted() {
        for ok in [
            "argus.log",
            "argus.log.1",
            "argus.log.9",
            "argus.log.10",
            "argus.log.99",
            "config.yaml",
            "version.txt",
            "agent_info.json",
            "crashes/crash-2026.txt",
            "crashes/a.b_c-d.txt",
            "crashes/A9.txt",
        ] {
            assert!(read(ok), "{ok} should be readable");
        }
    }

    /// The hostile corpus: traversal, absolute, separators, NUL, case, trailing slash,
    /// encodings, Unicode look-alikes, hidden files, depth, numbering outside 1..99.
    pub(crate) const HOSTILE_READ_PATHS: &[&str] = &[
        "",
        ".",
        "..",
        "../secret",
        "../ops/tls/ca.pem",
        "./config.yaml",
        "/etc/passwd",
        "/config.yaml",
        "config.yaml/",
        "config.yaml/.",
        "config.yaml\0",
        "config.yaml\0.txt",
        "Config.yaml",
        "CONFIG.YAML",
        "config.YAML",
        "config.yml",
        "config%2eyaml",
        "%2e%2e/secret",
        "..%2fsecret",
        "crashes%2fa.txt",
        "crashes\\a.txt",
        "config.yaml\\",
        "..\\secret",
        "crashes/../config.yaml",
        "crashes/../../etc/passwd",
        "crashes/.hidden.txt",
        "crashes/..txt",
        "crashes/a..txt",
        "crashes/.txt",
        "crashes/a/b.txt",
        "crashes/a.TXT",
        "crashes/a.txt/",
        "crashes//a.txt",
        "crashes/",
        "crashes",
        "crashes/a b.txt",
        "crashes/a\nb.txt",
        "crashes/a%00.txt",
        "argus.log.0",
        "argus.log.00",
        "argus.log.01",
        "argus.log.100",
        "argus.log.-1",
        "argus.log.",
        "argus.log.1/",
        "argus.logx",
        "ARGUS.LOG",
        "argus\u{2024}log",
        "config\u{ff0e}yaml",
        "ｃonfig.yaml",
        "config.yaml\u{200b}",
        "\u{2215}etc\u{2215}passwd",
        "crashes\u{2215}a.txt",
        " config.yaml",
        "config.yaml ",
        "state/agent.key",
        "state/agent.toml",
        "hotfix/a.yaml",
        "~/config.yaml",
        "file:config.yaml",
        "C:\\config.yaml",
    ];

    #[test]
    fn hostile_read_paths_are_refused() {
        for bad in HOSTILE_READ_PATHS {
            assert!(!read(bad), "{bad:?} must be refused");
        }
    }

    #[test]
    fn crash_name_length_is_bounded() {
        assert!(read(&format!("crashes/{}.txt", "a".repeat(MAX_NAME_LEN))));
        assert!(!read(&format!("crashes/{}.txt", "a".repeat(MAX_NAME_LEN + 1))));
    }

    #[test]
    fn patch_targets_are_config_and_hotfix_yaml_only() {
        for ok in ["config.yaml", "hotfix/cameras.yaml", "hotfix/a.b-c_d.yaml"] {
            assert!(target(ok), "{ok}");
        }
        for bad in [
            "argus.log",
            "version.txt",
            "agent_info.json",
            "crashes/a.txt",
            "hotfix/.yaml",
            "hotfix/.hidden.yaml",
            "hotfix/a.yml",
            "hotfix/a/b.yaml",
            "hotfix/../config.yaml",
            "hotfix/",
            "hotfix",
            "/config.yaml",
            "../config.yaml",
            "state/agent.key",
            "state/agent.toml",
            "HOTFIX/a.yaml",
            "hotfix\\a.yaml",
            "config.yaml\0",
            "config.yaml/",
            "hotfix%2fa.yaml",
        ] {
            assert!(!target(bad), "{bad:?} must be refused");
        }
    }

    #[test]
    fn target_parent_and_file_name() {
        let hotfix = PatchTarget::try_from("hotfix/x.yaml").unwrap();
        assert_eq!((hotfix.parent(), hotfix.file_name()), ("hotfix", "x.yaml"));
        let config = PatchTarget::try_from("config.yaml").unwrap();
        assert_eq!((config.parent(), config.file_name()), ("", "config.yaml"));
    }

    #[test]
    fn log_files_are_a_subset_of_read_paths() {
        for k in 0..=120u32 {
            let name = format!("argus.log.{k}");
            assert_eq!(LogFile::try_from(name.as_str()).is_ok(), (1..=99).contains(&k), "{name}");
        }
        assert!(LogFile::try_from("config.yaml").is_err());
    }

    #[test]
    fn deserializing_an_off_list_path_fails() {
        let wire = postcard::to_allocvec(&"../x".to_string()).unwrap();
        assert!(postcard::from_bytes::<AllowlistedPath>(&wire).is_err());
        let json: Result<PatchTarget, _> = serde_json::from_str("\"state/agent.key\"");
        assert!(json.is_err());
    }

    /// An independent statement of the grammar, as a regular-language reference model.
    fn reference_read(text: &str) -> bool {
        let fixed = ["argus.log", "config.yaml", "version.txt", "agent_info.json"];
        if fixed.contains(&text) {
            return true;
        }
        if let Some(k) = text.strip_prefix("argus.log.") {
            return k.parse::<u32>().is_ok_and(|n| (1..=99).contains(&n) && n.to_string() == k);
        }
        if let Some(name) = text.strip_prefix("crashes/").and_then(|r| r.strip_suffix(".txt")) {
            return !name.is_empty()
                && name.len() <= MAX_NAME_LEN
                && !name.starts_with('.')
                && !text.contains("..")
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        }
        false
    }

    proptest! {
        #[test]
        fn read_allowlist_matches_reference_on_arbitrary_strings(text in "\\PC{0,40}") {
            prop_assert_eq!(read(&text), reference_read(&text));
        }

        #[test]
        fn read_allowlist_matches_reference_near_the_grammar(
            text in "(argus\\.log(\\.[0-9]{1,3})?|crashes/[A-Za-z0-9._/\\\\%-]{0,8}\\.(txt|TXT)|config\\.yaml|\\.\\./[a-z]{1,4})[/\\x00]?"
        ) {
            prop_assert_eq!(read(&text), reference_read(&text));
        }

        #[test]
        fn traversal_and_separator_tricks_inserted_anywhere_never_pass(
            (base, trick, text) in near_miss()
        ) {
            let accepted = read(&text) || target(&text);
            // The generator reaches the accepting branch: an untouched allowlisted path passes.
            if trick.is_empty() {
                prop_assert!(accepted, "{base} must pass untouched");
            }
            if accepted {
                prop_assert!(!text.contains(".."), "{:?}", text);
                prop_assert!(!text.starts_with('/') && !text.ends_with('/'), "{:?}", text);
                prop_assert!(!text.contains('\\') && !text.contains('\0') && !text.contains('%'), "{:?}", text);
                prop_assert!(text.is_ascii(), "{:?}", text);
                prop_assert!(text.matches('/').count() <= 1, "{:?}", text);
                prop_assert!(!text.split('/').any(|part| part.is_empty() || part == "." || part.starts_with('.')), "{:?}", text);
            }
            if read(&text) {
                prop_assert!(reference_read(&text), "{:?} passed but the reference refuses it", text);
            }
        }
    }

    /// An allowlisted path with one trick (traversal, separator, NUL, encoding, look-alike,
    /// dot) inserted at any position — or none, so the accepting branch is reached too.
    fn near_miss() -> impl Strategy<Value = (&'static str, &'static str, String)> {
        let bases = proptest::sample::select(vec![
            "argus.log",
            "argus.log.7",
            "config.yaml",
            "version.txt",
            "agent_info.json",
            "crashes/c-1.txt",
            "hotfix/fix.yaml",
        ]);
        let tricks = proptest::sample::select(vec![
            "", "", "..", "../", "/..", "/", "//", "\\", "\0", "%2e", "%2f", "./", ".", "\u{2215}", "\u{FF0E}", " ",
            "~", "crashes/", "hotfix/",
        ]);
        (bases, tricks, any::<proptest::sample::Index>()).prop_map(|(base, trick, at)| {
            let cut = at.index(base.len() + 1);
            (base, trick, format!("{}{}{}", &base[..cut], trick, &base[cut..]))
        })
    }
}
