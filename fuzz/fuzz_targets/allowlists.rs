//! Arbitrary strings into the read-path and patch-target allowlists.
//! Asserts the safety properties, not just "no panic": anything accepted is a relative ASCII
//! path of at most two components, with no traversal, separators tricks, NUL or encoding.
#![no_main]

use argus_fsm::allowlist::{AllowlistedPath, LogFile, PatchTarget};
use libfuzzer_sys::fuzz_target;

fn assert_safe(text: &str) {
    assert!(text.is_ascii());
    assert!(!text.is_empty());
    assert!(!text.starts_with('/') && !text.ends_with('/'));
    assert!(!text.contains("..") && !text.contains('\\') && !text.contains('\0') && !text.contains('%'));
    assert!(text.split('/').count() <= 2);
    assert!(text.split('/').all(|part| !part.is_empty() && !part.starts_with('.')));
}

fuzz_target!(|text: &str| {
    if let Ok(path) = AllowlistedPath::try_from(text) {
        assert_safe(path.as_str());
        assert_eq!(path.as_str(), text);
        let top = matches!(text, "config.yaml" | "version.txt" | "agent_info.json") || text.starts_with("argus.log");
        assert!(top || (text.starts_with("crashes/") && text.ends_with(".txt")));
    }
    if LogFile::try_from(text).is_ok() {
        assert!(AllowlistedPath::try_from(text).is_ok(), "every log file is readable");
        assert!(!text.contains('/'));
    }
    if let Ok(target) = PatchTarget::try_from(text) {
        assert_safe(target.as_str());
        assert!(text == "config.yaml" || (text.starts_with("hotfix/") && text.ends_with(".yaml")));
        assert!(AllowlistedPath::try_from(text).is_ok() || text.starts_with("hotfix/"));
    }
});
