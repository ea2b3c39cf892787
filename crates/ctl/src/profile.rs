//! Named profiles (SPEC §11): `argusctl login` checks a server, CA, PAT and ops token against
//! the server and keeps them in `$XDG_CONFIG_HOME/argus/config.toml` (mode 0600, written
//! atomically). A command takes each setting from its flag, else its environment variable,
//! else the selected profile (`--profile` / `ARGUS_PROFILE`, else the current one).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::global::Global;

/// The profile a `login` without `--profile` writes.
pub const DEFAULT_PROFILE: &str = "default";

/// The config file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFile {
    /// The profile used when none is named.
    pub current: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One server and the credentials for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub server: String,
    pub ca_cert: PathBuf,
    pub pat: String,
    pub ops_token: String,
}

/// Where the config file lives: `$XDG_CONFIG_HOME/argus/config.toml`, else
/// `$HOME/.config/argus/config.toml`; `None` when neither variable is set.
pub fn config_path(lookup: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    crate::private_file::xdg_path(lookup, "XDG_CONFIG_HOME", ".config", "config.toml")
}

/// Reads the config file; a missing file is an empty one.
pub fn load(path: &Path) -> Result<ConfigFile, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(error) => Err(format!("reading {}: {error}", path.display())),
    }
}

/// Writes the config file atomically with mode 0600 (it holds a PAT and the ops token).
pub fn save(path: &Path, file: &ConfigFile) -> Result<(), String> {
    let text = toml::to_string(file).map_err(|e| e.to_string())?;
    crate::private_file::write(path, text.as_bytes())
}

/// Fills the settings that neither a flag nor the environment gave from the selected profile.
/// Naming a profile that does not exist is an error; having none at all is not.
pub fn apply(global: &mut Global, file: &ConfigFile) -> Result<(), String> {
    let name = global.profile.clone().or_else(|| file.current.clone());
    let Some(name) = name else { return Ok(()) };
    let Some(profile) = file.profiles.get(&name) else {
        if global.profile.is_some() {
            return Err(format!("no profile named {name:?} (see `argusctl profile ls`)"));
        }
        return Ok(());
    };
    global.server.get_or_insert_with(|| profile.server.clone());
    global.ca_cert.get_or_insert_with(|| profile.ca_cert.clone());
    global.pat.get_or_insert_with(|| profile.pat.clone());
    global.ops_token.get_or_insert_with(|| profile.ops_token.clone());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global() -> Global {
        Global {
            server: None,
            ca_cert: None,
            pat: None,
            ops_token: None,
            profile: None,
            json: false,
            output: None,
            dry_run: false,
        }
    }

    fn file() -> ConfigFile {
        let profile = |server: &str| Profile {
            server: server.into(),
            ca_cert: "/ca.pem".into(),
            pat: "argus_pat_profile".into(),
            ops_token: "ops".into(),
        };
        ConfigFile {
            current: Some("prod".into()),
            profiles: [
                ("prod".to_string(), profile("https://prod:8443")),
                ("lab".to_string(), profile("https://lab:8443")),
            ]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn flags_and_environment_win_over_the_profile() {
        let mut given = Global { pat: Some("argus_pat_flag".into()), ..global() };
        apply(&mut given, &file()).unwrap();
        assert_eq!(given.pat.as_deref(), Some("argus_pat_flag"));
        assert_eq!(given.server.as_deref(), Some("https://prod:8443"), "the current profile fills the rest");
        let mut chosen = Global { profile: Some("lab".into()), ..global() };
        apply(&mut chosen, &file()).unwrap();
        assert_eq!(chosen.server.as_deref(), Some("https://lab:8443"));
        let mut missing = Global { profile: Some("nope".into()), ..global() };
        assert!(apply(&mut missing, &file()).is_err());
        let mut nothing = global();
        apply(&mut nothing, &ConfigFile::default()).unwrap();
        assert_eq!(nothing.server, None);
    }

    #[test]
    fn the_file_is_written_0600_and_reads_back() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = config_path(|name| (name == "XDG_CONFIG_HOME").then(|| dir.path().display().to_string())).unwrap();
        assert_eq!(load(&path).unwrap(), ConfigFile::default(), "no file yet: empty");
        save(&path, &file()).unwrap();
        assert_eq!(load(&path).unwrap(), file());
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(config_path(|_| None), None);
        let home = config_path(|name| (name == "HOME").then(|| "/home/op".to_string())).unwrap();
        assert_eq!(home, PathBuf::from("/home/op/.config/argus/config.toml"));
    }
}
