//! The files argusctl keeps for a person (profiles, session tokens): under the XDG base
//! directories, holding secrets, so always written whole and mode 0600 from the first byte.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// `$VARIABLE/argus/NAME`, else `$HOME/FALLBACK/argus/NAME`; `None` when neither is set.
pub fn xdg_path(
    lookup: impl Fn(&str) -> Option<String>,
    variable: &str,
    home_fallback: &str,
    name: &str,
) -> Option<PathBuf> {
    let base = lookup(variable)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| lookup("HOME").filter(|v| !v.is_empty()).map(|home| Path::new(&home).join(home_fallback)))?;
    Some(base.join("argus").join(name))
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename) with mode 0600.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().ok_or("the path has no directory")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&temp);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| format!("writing {}: {e}", temp.display()))?;
    out.write_all(bytes).and_then(|()| out.sync_all()).map_err(|e| e.to_string())?;
    std::fs::rename(&temp, path).map_err(|e| format!("writing {}: {e}", path.display()))
}
