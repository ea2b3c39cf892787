//! How every ARGUS binary logs (SPEC §11 "Logs"), decided in one place:
//! - the filter comes from `ARGUS_LOG`, else `RUST_LOG`, else the binary's default;
//! - `ARGUS_LOG_FORMAT` = `text` (default) or `json` (one object per line with `timestamp`,
//!   `level`, `target`, `message` and the event's fields);
//! - text is coloured only when stderr is a terminal, and never when `NO_COLOR` is set.
//!
//! The choice is a pure function of the environment ([`LogSettings::from_lookup`]), tested
//! without installing a subscriber.

#![forbid(unsafe_code)]

use std::io::IsTerminal as _;

/// The output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// What the environment asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    pub filter: String,
    pub format: LogFormat,
    pub colour: bool,
}

/// A bad logging variable; the binary refuses to start with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogError(pub String);

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LogError {}

impl LogSettings {
    /// Reads the settings through `lookup`; `terminal` says whether stderr is a terminal.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        default_filter: &str,
        terminal: bool,
    ) -> Result<LogSettings, LogError> {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let filter = set("ARGUS_LOG").or_else(|| set("RUST_LOG")).unwrap_or_else(|| default_filter.to_string());
        let format = match set("ARGUS_LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(LogError(format!("ARGUS_LOG_FORMAT must be text or json, got {other:?}"))),
        };
        // NO_COLOR: any non-empty value disables colour (https://no-color.org).
        let colour = format == LogFormat::Text && terminal && set("NO_COLOR").is_none();
        Ok(LogSettings { filter, format, colour })
    }
}

/// Keeps the log writer's thread alive; dropping it (at the end of `main`) flushes every line
/// still queued.
#[must_use = "logs queued when the guard is dropped are flushed; hold it until main returns"]
pub struct LogGuard(#[allow(dead_code)] tracing_appender::non_blocking::WorkerGuard);

/// Installs the process's subscriber from the environment, logging to stderr through a
/// writer thread (`tracing-appender`), so a request never waits for a write to a log file or
/// pipe. Lossless: when the queue is full the logging thread waits rather than drop a line.
pub fn init(default_filter: &str) -> Result<LogGuard, LogError> {
    let settings =
        LogSettings::from_lookup(|name| std::env::var(name).ok(), default_filter, std::io::stderr().is_terminal())?;
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.filter)
        .map_err(|e| LogError(format!("log filter {:?}: {e}", settings.filter)))?;
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("argus-log")
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).init(),
        LogFormat::Text => builder.with_ansi(settings.colour).init(),
    }
    Ok(LogGuard(guard))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)], terminal: bool) -> Result<LogSettings, LogError> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        LogSettings::from_lookup(|name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()), "info", terminal)
    }

    #[test]
    fn argus_log_wins_then_rust_log_then_the_default() {
        assert_eq!(settings(&[("ARGUS_LOG", "debug"), ("RUST_LOG", "trace")], false).unwrap().filter, "debug");
        assert_eq!(settings(&[("RUST_LOG", "trace")], false).unwrap().filter, "trace");
        assert_eq!(settings(&[("ARGUS_LOG", " ")], false).unwrap().filter, "info", "blank counts as unset");
        assert_eq!(settings(&[], false).unwrap().filter, "info");
    }

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color_or_json() {
        assert!(settings(&[], true).unwrap().colour);
        assert!(!settings(&[], false).unwrap().colour, "a log file gets no escape codes");
        assert!(!settings(&[("NO_COLOR", "1")], true).unwrap().colour);
        assert!(!settings(&[("ARGUS_LOG_FORMAT", "json")], true).unwrap().colour);
    }

    #[test]
    fn the_format_is_text_or_json_and_nothing_else() {
        assert_eq!(settings(&[("ARGUS_LOG_FORMAT", "json")], false).unwrap().format, LogFormat::Json);
        assert_eq!(settings(&[("ARGUS_LOG_FORMAT", "text")], false).unwrap().format, LogFormat::Text);
        assert!(settings(&[("ARGUS_LOG_FORMAT", "yaml")], false).is_err());
    }
}
