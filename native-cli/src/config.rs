//! The config file and how its values meet the environment and the flags.
//!
//! Precedence, highest first: `--api-url`, `TUNNEL_API_URL` / `TUNNEL_API_KEY`, the
//! file, the built-in default. The file is TOML holding `api_url` and `api_key`; it
//! holds a secret, so it is written readable by its owner only.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The server a fresh install talks to: the local stack's default address.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:8080";

/// Overrides the config file location.
pub const CONFIG_ENV: &str = "TUNNEL_CONFIG";

/// Overrides the API URL of the file.
pub const API_URL_ENV: &str = "TUNNEL_API_URL";

/// Overrides the API key of the file.
pub const API_KEY_ENV: &str = "TUNNEL_API_KEY";

/// Environment variable naming a PEM file of extra trusted CAs (as `--ca-file`).
pub const CA_FILE_ENV: &str = "TUNNEL_CA_FILE";

/// What can go wrong finding, reading or writing the config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Neither `TUNNEL_CONFIG` nor `HOME` says where the file lives.
    #[error("cannot locate the config file: set HOME or {CONFIG_ENV}")]
    NoHome,
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{path} is not a valid config file: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's words, on one line.
        message: String,
    },
    /// The file cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The contents of the config file; absent fields are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFile {
    /// Base URL of the REST API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// The client's API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// A PEM file of CAs to trust besides the public ones (a self-hosted server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// Which setting gave the API URL in force, so a message about that URL can say
/// where to change it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UrlSource {
    /// The `--api-url` flag.
    Flag,
    /// The `TUNNEL_API_URL` environment variable.
    Env,
    /// `api_url` in the config file at this path.
    File(PathBuf),
    /// None of them: [`DEFAULT_API_URL`].
    #[default]
    Default,
}

impl std::fmt::Display for UrlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlSource::Flag => f.write_str("from --api-url"),
            UrlSource::Env => write!(f, "from {API_URL_ENV}"),
            UrlSource::File(path) => write!(f, "from api_url in {}", path.display()),
            UrlSource::Default => write!(
                f,
                "the default: no --api-url, {API_URL_ENV} or api_url in the config file"
            ),
        }
    }
}

/// Values from outside the file that take precedence over it.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--api-url`, or else `TUNNEL_API_URL` (clap merges the two).
    pub api_url: Option<String>,
    /// Whether `api_url` came from `TUNNEL_API_URL` rather than the flag.
    pub api_url_from_env: bool,
    /// `TUNNEL_API_KEY`.
    pub api_key: Option<String>,
    /// `--ca-file`, or else `TUNNEL_CA_FILE` (clap merges the two).
    pub ca_file: Option<PathBuf>,
}

impl Overrides {
    /// The overrides of this process: `api_url` from the command line, the key from
    /// the environment.
    pub fn from_env(api_url: Option<String>) -> Self {
        Self {
            api_url,
            api_url_from_env: false,
            api_key: std::env::var(API_KEY_ENV).ok(),
            ca_file: None,
        }
    }
}

/// The settings in force: the file merged with the overrides.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the file is (whether or not it exists).
    pub path: PathBuf,
    /// The API to talk to.
    pub api_url: String,
    /// Which setting gave `api_url`.
    pub api_url_source: UrlSource,
    /// The key, if any source has one.
    pub api_key: Option<String>,
    /// Extra trusted CAs, if any source names a file.
    pub ca_file: Option<PathBuf>,
    /// The file as read, to be updated and saved.
    pub file: ConfigFile,
    /// Whether `api_key` came from the environment rather than the file.
    pub key_from_env: bool,
}

impl Settings {
    /// Where the key in force came from, in words for an error message.
    pub fn key_origin(&self) -> String {
        match (
            self.key_from_env,
            self.file.api_key.as_deref().is_some_and(|k| !k.is_empty()),
        ) {
            (true, true) => format!(
                "the API key in {API_KEY_ENV} (which overrides the one in {})",
                self.path.display()
            ),
            (true, false) => format!("the API key in {API_KEY_ENV}"),
            (false, _) => format!("the API key in {}", self.path.display()),
        }
    }

    /// Reads the file at `path` (a missing file is an empty one) and applies
    /// `overrides`.
    pub fn load(path: PathBuf, overrides: Overrides) -> Result<Self, ConfigError> {
        let file = read(&path)?;
        Ok(Self::resolve(path, file, overrides))
    }

    /// Applies the precedence rules; empty values count as absent.
    pub fn resolve(path: PathBuf, file: ConfigFile, overrides: Overrides) -> Self {
        let (api_url, api_url_source) = match (
            non_empty(overrides.api_url),
            non_empty(file.api_url.clone()),
        ) {
            (Some(url), _) if overrides.api_url_from_env => (url, UrlSource::Env),
            (Some(url), _) => (url, UrlSource::Flag),
            (None, Some(url)) => (url, UrlSource::File(path.clone())),
            (None, None) => (DEFAULT_API_URL.to_owned(), UrlSource::Default),
        };
        let env_key = non_empty(overrides.api_key);
        let key_from_env = env_key.is_some();
        let api_key = env_key.or_else(|| non_empty(file.api_key.clone()));
        let ca_file = overrides.ca_file.or_else(|| file.ca_file.clone());
        Self {
            path,
            api_url,
            api_url_source,
            api_key,
            key_from_env,
            ca_file,
            file,
        }
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Where the config file lives: `tunnel_config` (the `TUNNEL_CONFIG` value) when set,
/// else `$HOME/.tunnel/config`.
pub fn config_path(
    tunnel_config: Option<OsString>,
    home: Option<OsString>,
) -> Result<PathBuf, ConfigError> {
    if let Some(path) = tunnel_config.filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let home = home.filter(|h| !h.is_empty()).ok_or(ConfigError::NoHome)?;
    Ok(PathBuf::from(home).join(".tunnel").join("config"))
}

/// [`config_path`] for this process's environment.
pub fn default_config_path() -> Result<PathBuf, ConfigError> {
    config_path(std::env::var_os(CONFIG_ENV), std::env::var_os("HOME"))
}

/// Reads the file; a missing file reads as empty.
pub fn read(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    toml::from_str(&text).map_err(|e| {
        // toml's messages span lines and quote the source; errors here take one line.
        let mut message = e.message().lines().collect::<Vec<_>>().join(": ");
        if let Some(span) = e.span() {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            message = format!("line {line}: {message}");
        }
        ConfigError::Parse {
            path: path.to_owned(),
            message,
        }
    })
}

/// Writes the file readable by its owner only, creating its directory. The new
/// contents go to a sibling file that is renamed over the old one, so a crash never
/// leaves half a file, and the key is never readable by others, even for a moment.
pub fn write(path: &Path, file: &ConfigFile) -> Result<(), ConfigError> {
    let fail = |source| ConfigError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(fail)?;
    }
    let text = toml::to_string(file).map_err(|e| fail(std::io::Error::other(e)))?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut out = open_private(&tmp).map_err(fail)?;
    out.write_all(text.as_bytes()).map_err(fail)?;
    out.sync_all().map_err(fail)?;
    drop(out);
    std::fs::rename(&tmp, path).map_err(fail)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` applies only when the file is created; a leftover one keeps its own.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(url: Option<&str>, key: Option<&str>) -> ConfigFile {
        ConfigFile {
            api_url: url.map(Into::into),
            api_key: key.map(Into::into),
            ca_file: None,
        }
    }

    fn overrides(url: Option<&str>, key: Option<&str>) -> Overrides {
        Overrides {
            api_url: url.map(Into::into),
            api_url_from_env: false,
            api_key: key.map(Into::into),
            ca_file: None,
        }
    }

    #[test]
    fn default_applies_when_nothing_is_set() {
        let s = Settings::resolve("c".into(), file(None, None), overrides(None, None));
        assert_eq!(s.api_url, DEFAULT_API_URL);
        assert_eq!(s.api_url_source, UrlSource::Default);
        assert_eq!(s.api_key, None);
    }

    #[test]
    fn the_url_remembers_which_setting_gave_it() {
        let f = file(Some("http://file"), None);
        let s = Settings::resolve("/c".into(), f.clone(), overrides(None, None));
        assert_eq!(s.api_url_source, UrlSource::File("/c".into()));
        assert_eq!(s.api_url_source.to_string(), "from api_url in /c");
        let s = Settings::resolve("/c".into(), f.clone(), overrides(Some("http://f"), None));
        assert_eq!(s.api_url_source, UrlSource::Flag);
        assert_eq!(s.api_url_source.to_string(), "from --api-url");
        let mut from_env = overrides(Some("http://e"), None);
        from_env.api_url_from_env = true;
        let s = Settings::resolve("/c".into(), f, from_env);
        assert_eq!(s.api_url_source.to_string(), "from TUNNEL_API_URL");
    }

    #[test]
    fn file_beats_default_and_overrides_beat_file() {
        let f = file(Some("http://file"), Some("file-key"));
        let s = Settings::resolve("c".into(), f.clone(), overrides(None, None));
        assert_eq!(
            (s.api_url.as_str(), s.api_key.as_deref()),
            ("http://file", Some("file-key"))
        );
        let s = Settings::resolve(
            "c".into(),
            f.clone(),
            overrides(Some("http://flag"), Some("env-key")),
        );
        assert_eq!(
            (s.api_url.as_str(), s.api_key.as_deref()),
            ("http://flag", Some("env-key"))
        );
        assert_eq!(s.file, f, "the file as read is kept for saving");
    }

    #[test]
    fn empty_values_count_as_absent() {
        let s = Settings::resolve(
            "c".into(),
            file(Some(""), Some("k")),
            overrides(Some(" "), Some("")),
        );
        assert_eq!(s.api_url, DEFAULT_API_URL);
        assert_eq!(s.api_key.as_deref(), Some("k"));
    }

    #[test]
    fn path_prefers_tunnel_config_then_home() {
        assert_eq!(
            config_path(Some("/x/cfg".into()), Some("/home/u".into())).unwrap(),
            PathBuf::from("/x/cfg")
        );
        assert_eq!(
            config_path(None, Some("/home/u".into())).unwrap(),
            PathBuf::from("/home/u/.tunnel/config")
        );
        assert!(matches!(
            config_path(Some("".into()), None),
            Err(ConfigError::NoHome)
        ));
    }

    #[test]
    fn missing_file_reads_empty_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("config");
        assert_eq!(read(&path).unwrap(), ConfigFile::default());
        let f = file(Some("http://x:1"), Some("secret"));
        write(&path, &f).unwrap();
        assert_eq!(read(&path).unwrap(), f);
        write(&path, &file(Some("http://x:1"), None)).unwrap();
        assert_eq!(read(&path).unwrap().api_key, None);
    }

    #[test]
    fn bad_toml_is_a_one_line_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, "api_url = [").unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(
            e.ends_with("is not a valid config file: line 1: invalid array: expected `]`"),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn written_file_is_private_even_if_it_was_not() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new").join("config");
        write(&path, &file(None, Some("k"))).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, "").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o666)).unwrap();
        write(&path, &file(None, Some("k2"))).unwrap();
        assert_eq!(mode(&path), 0o600);
    }
}
